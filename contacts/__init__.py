"""The directory of officials: models, importers, audiences and forms of address.

This package is the lowest layer of the project: it imports neither Flask nor the campaign domain,
so the importers and the audience language can be used from the CLI, the web app and the workers alike.
"""
