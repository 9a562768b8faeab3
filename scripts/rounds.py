#!/usr/bin/env python3
"""Times programs on inputs in interleaved rounds; prints one JSON object.

    rounds.py ROUNDS 'NAME=PROGRAM [ARG...]'... -- INPUT[@REPEAT]...

Each round runs every program on every input once (REPEAT times for an
input written PATH@REPEAT: more samples of a short run), in turn, so that a burst
of load from elsewhere on the machine falls on all of them alike instead of
on whichever ran at that moment. A run is spawned directly (no shell), with
stdin the input file and stdout/stderr /dev/null; its wall time is from spawn
to exit, its CPU time (user + system, all threads) comes from wait4. The
first round warms the page cache and is not counted.

Output: {"NAME": {"INPUT": {"wall": [...], "cpu": [...]}}} in seconds.
"""
import json
import os
import shlex
import sys
import time


def main(argv):
    rounds = int(argv[1])
    split = argv.index("--")
    programs = [(name, shlex.split(command)) for name, command in (arg.split("=", 1) for arg in argv[2:split])]
    inputs = []
    for arg in argv[split + 1 :]:
        path, _, repeat = arg.partition("@")
        inputs.append((path, int(repeat or 1)))
    null = os.open(os.devnull, os.O_WRONLY)
    times = {name: {path: {"wall": [], "cpu": []} for path, _ in inputs} for name, _ in programs}
    for round_ in range(rounds + 1):
        for path, repeat in inputs:
            for name, program in [p for _ in range(repeat) for p in programs]:
                fd = os.open(path, os.O_RDONLY)
                actions = [
                    (os.POSIX_SPAWN_DUP2, fd, 0),
                    (os.POSIX_SPAWN_DUP2, null, 1),
                    (os.POSIX_SPAWN_DUP2, null, 2),
                ]
                t0 = time.perf_counter()
                pid = os.posix_spawn(program[0], program, os.environ, file_actions=actions)
                _, status, usage = os.wait4(pid, 0)
                t1 = time.perf_counter()
                os.close(fd)
                if os.waitstatus_to_exitcode(status) != 0:
                    sys.exit(f"error: {name} failed on {path}")
                if round_ > 0:
                    times[name][path]["wall"].append(t1 - t0)
                    times[name][path]["cpu"].append(usage.ru_utime + usage.ru_stime)
    json.dump(times, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
