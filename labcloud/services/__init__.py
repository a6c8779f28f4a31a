"""The services: one package per service, each with one public face (its __init__.py).

core      the base every service stands on: access, context, journal, quotas, Protocols
compute   servers (Nova): lifecycle, flavors, keypairs, seed, placement, resize, migration
images    images (Glance)
network   networks, subnets, ports, IPAM, DHCP (Neutron L2)
l3        routers, floating IPs, security groups (Neutron L3)
volumes   volumes, snapshots, attach and detach (Cinder)
nodes     the machines labcloud drives, and the scheduler that ranks them
stacks    lab.toml declared, planned and applied (Heat)
identity.py, tokens.py   projects, users, roles and tokens (Keystone)
"""
