"""The `status` blueprint object; views.py and pages.py attach their routes to it."""
from flask import Blueprint

bp = Blueprint("status", __name__, url_prefix="/status")
