"""The endpoints of the local hub, one module per noun. Only ``hubcli.server.router`` imports
them; they build on ``access`` (who may do what), ``request``/``response`` and the storage."""
