#!/usr/bin/python3
"""watch.py - follow the store's changes from Python: list, then watch from
the list's revision, so no change is missed or seen twice.

    protoc --python_out=/tmp/fs -I proto proto/flows.proto
    PYTHONPATH=/tmp/fs:tools/example/python \\
        /usr/bin/python3 tools/example/python/watch.py tcp://127.0.0.1:5555 \\
        [--since N] [--kind flow|app] [--group G] [--count N]

Without --since it first lists the components (of --kind, --group) and
prints "listed N at revision R", then every change after R; with --since
the changes after N. One line per change, flushed:

    <revision> <type> <flow|app> <id> <name> v<version> <status>

It resumes by itself when the backend goes away and comes back (a line on
stderr says so), and ends after --count changes (exit 0), on Ctrl-C or
SIGTERM (exit 0), or on OUT_OF_RANGE (the backend's words on stderr, exit
4, as flowctl watch). Other exit statuses as example.py: 1 an error
answer, 2 usage, 3 no backend for the first list.
"""

import argparse
import signal
import sys

import flows_pb2 as pb
from flowsvc import EVENT_TYPES, STATUSES, Client, Error

KINDS = {"flow": pb.FLOW, "app": pb.APP}


def main(argv):
    p = argparse.ArgumentParser(prog="watch.py")
    p.add_argument("url")
    p.add_argument("--since", type=int)
    p.add_argument("--kind", choices=sorted(KINDS))
    p.add_argument("--group")
    p.add_argument("--count", type=int)
    args = p.parse_args(argv[1:])  # exits 2 on a usage error
    kind = KINDS.get(args.kind, pb.KIND_ANY)

    # SIGTERM as Ctrl-C: leave the loop between two lines.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    client = Client(args.url)
    printed = 0
    since = args.since
    try:
        if since is None:
            n = 0
            for k in ([kind] if kind != pb.KIND_ANY else [pb.FLOW, pb.APP]):
                n += len(client.list(kind=k, group=args.group))
                # Both lists were read at or before this revision; a
                # change between them comes again as an event, never lost.
                if since is None:
                    since = client.last_revision
            print("listed %d at revision %d" % (n, since), flush=True)

        def said(e, pause):
            print("watch.py: %s: %s; trying again in %.2f s"
                  % (e.name, e.message, pause), file=sys.stderr, flush=True)

        for ev in client.watch(since=since, kind=kind, group=args.group,
                               on_retry=said):
            c = ev.component
            print("%d %s %s %s %s v%d %s" % (
                ev.revision, EVENT_TYPES.get(ev.type, "unknown"),
                "app" if c.kind == pb.APP else "flow", c.id, c.name,
                c.version, STATUSES.get(ev.status, "unknown")), flush=True)
            printed += 1
            if args.count is not None and printed >= args.count:
                break
        return 0
    except KeyboardInterrupt:
        return 0
    except Error as e:
        print("watch.py: %s: %s" % (e.name, e.message), file=sys.stderr)
        if e.code == pb.OUT_OF_RANGE:
            return 4
        return 3 if e.code in (pb.UNAVAILABLE, pb.DEADLINE_EXCEEDED) else 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
