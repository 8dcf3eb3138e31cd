"""Domain rules shared by handlers, CLI and status: users, tiers, entitlement, keys, ordering."""
