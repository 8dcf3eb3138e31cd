FLASK_APP=subsvc
