#!/usr/bin/env python3
"""Prints N distinct loopback ports that are free now, one line, space-separated.

The ports are taken below the kernel's ephemeral range (net.ipv4.ip_local_port_range), from
which outgoing connections and port-0 binds draw theirs: between this choice and the moment a
server binds the port, no other socket on the machine is handed it unless it asks for it by
number.
"""
import random
import socket
import sys

count = int(sys.argv[1])
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    ephemeral_low = 32768
low = 10000
high = max(low + count * 10, ephemeral_low) - 1
chosen = []
while len(chosen) < count:
    port = random.randint(low, high)
    if port in chosen:
        continue
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    chosen.append(port)
print(" ".join(str(p) for p in chosen))
