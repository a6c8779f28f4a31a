"""The third front end: OpenStack's own REST API, served by `labcloud serve`.

Like the CLI and the screens, it only calls services (through a per-request Lab acting as
the token's user in the token's project). Each OpenStack service is one module with one
`API` value: its path prefix, its routes, its error body and its catalog entry;
labcloud/api/registry.py lists them, so a new service (Swift, Gnocchi, Heat, Octavia,
Trove) joins by adding its module there.
"""
