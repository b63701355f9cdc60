"""The API kernel shared by every app: domain errors, the one exception handler, strict input, OpenAPI helpers,
pagination and the token login API."""
