"""The admin's API page: the public API's reference, read from its OpenAPI document."""
