"""`pipeline serve`: the officer's desk, a local web page for the whole period (`pipeline.web.app`)."""
