"""Keypairs (Nova): the SSH public keys servers can be given."""

from __future__ import annotations

from typing import Any

from labcloud.screens.create_forms import keypair_form
from labcloud.screens.forms import Form
from labcloud.screens.resource import Item, ResourceView, Snapshot, record_of


class KeypairsView(ResourceView):
    view_name = "keypairs"
    title = "Keypairs"
    aliases = ("keypair", "key", "keys")
    order = 7
    columns = ("Name", "Fingerprint", "Type")
    cli = "labcloud keypair list"
    noun = "keypair"
    max_cell = 48  # a whole MD5 fingerprint

    def fetch(self) -> Snapshot:
        return Snapshot(
            [
                Item(k.id, (k.name, k.fingerprint, k.key_type), record_of(k))
                for k in self.lab.keypairs.list()
            ]
        )

    def create_form(self) -> Form:
        return keypair_form()

    def delete(self, item: Item) -> Any:
        return self.lab.keypairs.delete(item.key)
