"""The accounts screens: change your own password, and the Admins page (list, add, remove)."""
