#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal (stdin, stdout and stderr all a TTY), as a person at a
terminal would: waits until its output holds argv[1], then types Ctrl-D, and prints everything it
wrote followed by a line 'EXIT <status>'. For the tests of what kion-dedup says only on a TTY."""
import os
import pty
import select
import sys
import time

want = sys.argv[1].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out = b""
deadline = time.time() + 120
while want not in out and time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 1)
    if ready:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
os.write(fd, b"\x04")
while True:
    ready, _, _ = select.select([fd], [], [], 60)
    if not ready:
        break
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.stdout.write("\nEXIT %d\n" % os.waitstatus_to_exitcode(status))
