"""gateway/ids.py: ids that are unique without a system call each, grow with time, and differ after a fork."""

from __future__ import annotations

import os
import re

from gateway.ids import unique_hex

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_ids_are_32_hex_unique_and_increasing() -> None:
    ids = [unique_hex() for _ in range(10_000)]
    assert all(HEX32.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # the ledger's indexes on them are appended to


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, unique_hex().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent_id = unique_hex()
    assert HEX32.match(child_id)
    assert child_id[16:] != parent_id[16:]  # re-seeded suffix: the two processes' ids never collide
