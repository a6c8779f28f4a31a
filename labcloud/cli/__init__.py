"""The headless command line, in the openstack client's grammar."""
