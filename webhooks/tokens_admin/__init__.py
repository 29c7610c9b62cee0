"""The API tokens screen: list, create (the token is shown once) and revoke."""
