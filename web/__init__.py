"""HTTP adapter and assembly: REST API, pages and their assets, the command line."""
