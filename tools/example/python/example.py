#!/usr/bin/python3
"""example.py - an internal service in Python: create a flow, get it, find
it by name, list the group, delete it.

    protoc --python_out=/tmp/fs -I proto proto/flows.proto
    PYTHONPATH=/tmp/fs:tools/example/python \\
        /usr/bin/python3 tools/example/python/example.py tcp://127.0.0.1:5555 greeting

Prints "created <id>", the flow as "name=... group=... version=...
input=a,b output=c", "found <id>", "listed N", then "deleted <id>". Exit
status: 0 success, 1 the backend answered with an error, 2 usage, 3
backend unavailable or no answer in time (as flowctl).
"""

import sys

import flows_pb2 as pb
from flowsvc import Client, Error


def show(c):
    return "name=%s group=%s version=%d input=%s output=%s" % (
        c.name, c.group, c.version, ",".join(c.input_fields),
        ",".join(c.output_fields))


def main(argv):
    if len(argv) != 3:
        print("usage: example.py tcp://HOST:PORT NAME", file=sys.stderr)
        return 2
    client = Client(argv[1])
    try:
        flow = client.create(argv[2], group="py_examples",
                             input_fields=["caller"],
                             output_fields=["intent", "confidence"])
        print("created", flow.id)
        print(show(client.get(flow.id, kind=pb.FLOW)))
        found = client.list(name=argv[2].upper(), group="PY_EXAMPLES")
        print("found", found[0].id if found else "nothing")
        print("listed", len(client.list(group="py_examples")))
        client.delete(flow.id)
        print("deleted", flow.id)
        return 0
    except Error as e:
        print("example.py: %s: %s" % (e.name, e.message), file=sys.stderr)
        for field, msgs in e.violations.items():
            for m in msgs:
                print("  %s: %s" % (field, m), file=sys.stderr)
        return 3 if e.code in (pb.UNAVAILABLE, pb.DEADLINE_EXCEEDED) else 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
