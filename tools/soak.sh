#!/usr/bin/env bash
# Soak test (not run by CI): 64 clients mix every REST operation through
# flow-gateway for SECONDS (default 300) while flow-service is killed and
# restarted every RESTART seconds (default 30; SIGKILL and SIGTERM in turn),
# then checks that the store equals a model of the acknowledged operations.
#
# Each client keeps its own model. An acknowledged change (2xx) is certain;
# a change whose answer never came or was 503 may or may not have happened,
# so the component is frozen with both outcomes allowed. A 409 on a delete
# or a wrong 2xx body is an error at once. At the end every component of
# every model is read back, the status included, and the full lists may
# hold nothing that no client made.
#
# Usage: tools/soak.sh [SECONDS]; env: CLIENTS (64), RESTART (30),
# BUILD_DIR (build-soak, a Release build), FSYNC (everysec).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
FLOWSVC_EXTRA_PACKAGES="${FLOWSVC_EXTRA_PACKAGES:-} python3"
flowsvc_install_deps

secs=${1:-300}
clients=${CLIENTS:-64}
restart=${RESTART:-30}
BUILD_DIR=${BUILD_DIR:-build-soak}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DFLOWSVC_TESTS=OFF \
	>/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" >/dev/null

scratch=$(mktemp -d "${TMPDIR:-/tmp}/flowsvc-soak.XXXXXX")
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
rpc_port=$(free_port)
gw_port=$(free_port)
backend=tcp://127.0.0.1:$rpc_port
svc_pid=""
gw_pid=""

start_backend() {
	"$BUILD_DIR/service/flow-service" --listen "$backend" \
		--data-dir "$scratch/data" --fsync "${FSYNC:-everysec}" \
		>>"$scratch/flow-service.log" 2>&1 &
	svc_pid=$!
	echo "$svc_pid" >"$scratch/svc.pid"
	"$BUILD_DIR/tools/flowctl" --backend "$backend" --wait --timeout 15000 \
		health >/dev/null
}
# The restarter runs in a subshell: the backend's pid is in a file, and it
# may not be our child, so exits are awaited by polling.
wait_gone() {
	local i
	for i in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
	[ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null && wait_gone "$gw_pid"
	svc_pid=$(cat "$scratch/svc.pid" 2>/dev/null || true)
	[ -n "$svc_pid" ] && kill "$svc_pid" 2>/dev/null && wait_gone "$svc_pid"
	return 0
}
trap cleanup EXIT

start_backend
"$BUILD_DIR/gateway/flow-gateway" --port "$gw_port" --backend "$backend" \
	--rpc-timeout 3000 >>"$scratch/flow-gateway.log" 2>&1 &
gw_pid=$!

# Restarts the backend every $restart seconds until the driver asks it to
# stop ($scratch/stop); leaves it running and says so ($scratch/stopped).
restarter() {
	local n=0 t
	while [ ! -e "$scratch/stop" ]; do
		t=$restart
		while [ "$t" -gt 0 ] && [ ! -e "$scratch/stop" ]; do
			sleep 1
			t=$((t - 1))
		done
		[ -e "$scratch/stop" ] && break
		n=$((n + 1))
		if [ $((n % 2)) -eq 1 ]; then
			echo "soak: restart $n: SIGKILL" >&2
			kill -KILL "$svc_pid"
		else
			echo "soak: restart $n: SIGTERM" >&2
			kill -TERM "$svc_pid"
		fi
		wait_gone "$svc_pid"
		start_backend
	done
	: >"$scratch/stopped"
}
restarter &
restarter_pid=$!

rc=0
python3 - "$gw_port" "$secs" "$clients" "$scratch" <<'EOF' || rc=$?
import http.client, json, os, random, sys, threading, time

port, secs, nclients, scratch = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
errors = []
elock = threading.Lock()
counts = {}

def err(msg):
    with elock:
        errors.append(msg)
        if len(errors) <= 20:
            print("soak: ERROR:", msg, file=sys.stderr)

class Conn:
    def __init__(self):
        self.c = None
    def req(self, method, path, body=None):
        """(status, json) or (None, None) when no answer came."""
        data = json.dumps(body).encode() if body is not None else None
        hdr = {"Content-Type": "application/json"} if data is not None else {}
        try:
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            self.c.request(method, path, body=data, headers=hdr)
            r = self.c.getresponse()
            raw = r.read()
            with elock:
                counts[r.status] = counts.get(r.status, 0) + 1
            return r.status, (json.loads(raw) if raw else None)
        except (OSError, http.client.HTTPException, ValueError):
            if self.c is not None:
                self.c.close()
            self.c = None
            with elock:
                counts["no answer"] = counts.get("no answer", 0) + 1
            return None, None

FIELDS = ("name", "input_fields", "output_fields", "flows")

def view(obj):
    return {k: obj.get(k) for k in FIELDS}

class Client(threading.Thread):
    def __init__(self, n):
        super().__init__(daemon=True)
        self.n = n
        self.rng = random.Random(n)
        self.conn = Conn()
        # (coll, id) -> {"poss": [state or None], "frozen": bool}
        # state: {"fields": view, "status": str}
        self.model = {}
        self.maybe = []   # (coll, name) of creates with no answer
        self.base = None  # a flow of this client that is never deleted
        self.seq = 0

    def name(self):
        self.seq += 1
        return "soak_c%d_%d" % (self.n, self.seq)

    def unsure(self, status):
        return status is None or status == 503

    def create(self, coll, base=False):
        nm = self.name()
        body = {"name": nm, "group": "soak%d" % (self.n % 4),
                "input_fields": ["in%d" % self.rng.randrange(5)],
                "output_fields": ["out%d" % self.rng.randrange(5)]}
        if self.base and self.rng.random() < 0.5:
            body["flows"] = [self.base]
        st, js = self.conn.req("POST", "/api/%s/" % coll, body)
        if st == 201:
            want = {"name": nm, "input_fields": body["input_fields"],
                    "output_fields": body["output_fields"],
                    "flows": body.get("flows", [])}
            if view(js) != want:
                err("create %s: %r, sent %r" % (coll, js, body))
            self.model[(coll, js["id"])] = {"poss": [{"fields": view(js), "status": "not-deployed"}], "frozen": False}
            return js["id"]
        if self.unsure(st):
            self.maybe.append((coll, nm))
        else:
            err("create %s: %s %r" % (coll, st, js))
        return None

    def pick(self):
        keys = [k for k, v in self.model.items() if not v["frozen"] and v["poss"][0] is not None]
        return self.rng.choice(keys) if keys else None

    def step(self):
        r = self.rng.random()
        if r < 0.25 or not self.model:
            self.create("apps" if self.rng.random() < 0.3 else "flows")
            return
        key = self.pick()
        if key is None:
            return
        coll, cid = key
        ent = self.model[key]
        cur = ent["poss"][0]
        if r < 0.45:
            st, js = self.conn.req("GET", "/api/%s/%s/" % key)
            if st == 200 and view(js) != cur["fields"]:
                err("get %s: %r, model %r" % (cid, view(js), cur["fields"]))
            elif st not in (200, 503, None):
                err("get %s: %s %r" % (cid, st, js))
        elif r < 0.52:
            st, js = self.conn.req("GET", "/api/%s/?name__iexact=%s" % (coll, cur["fields"]["name"]))
            if st == 200 and (len(js) != 1 or js[0]["id"] != cid):
                err("list by name %s: %r" % (cur["fields"]["name"], js))
            elif st not in (200, 503, None):
                err("list %s: %s %r" % (cid, st, js))
        elif r < 0.72:
            body = {"output_fields": ["out%d" % self.rng.randrange(9)]}
            if self.base and cid != self.base:
                body["flows"] = [self.base] if self.rng.random() < 0.5 else []
            st, js = self.conn.req("PUT", "/api/%s/%s/" % key, body)
            new = {"fields": dict(cur["fields"]), "status": cur["status"]}
            new["fields"].update(body)
            if st == 200:
                if view(js) != new["fields"]:
                    err("update %s: %r, want %r" % (cid, view(js), new["fields"]))
                ent["poss"] = [new]
            elif self.unsure(st):
                ent["poss"] = [cur, new]
                ent["frozen"] = True
            else:
                err("update %s: %s %r" % (cid, st, js))
        elif r < 0.88:
            op = self.rng.choice(["deploy", "stop", "start", "status"])
            st, js = self.conn.req("GET" if op == "status" else "POST", "/api/apps/%s/%s/" % (cid, op))
            if op == "status":
                if st == 200 and js != {"status": cur["status"]}:
                    err("status %s: %r, model %s" % (cid, js, cur["status"]))
                return
            deployed = cur["status"] != "not-deployed"
            want = {"deploy": "started", "stop": "stopped", "start": "started"}[op]
            if op != "deploy" and not deployed:
                if st == 409 or self.unsure(st):
                    return
                err("%s of undeployed %s: %s %r" % (op, cid, st, js))
                return
            new = {"fields": cur["fields"], "status": want}
            if st == 200:
                if js != {"status": want}:
                    err("%s %s: %r" % (op, cid, js))
                ent["poss"] = [new]
            elif self.unsure(st):
                ent["poss"] = [cur, new]
                ent["frozen"] = True
            else:
                err("%s %s: %s %r" % (op, cid, st, js))
        else:
            if cid == self.base:
                return
            st, js = self.conn.req("DELETE", "/api/%s/%s/" % key)
            if st == 204:
                ent["poss"] = [None]
            elif self.unsure(st):
                ent["poss"] = [cur, None]
                ent["frozen"] = True
            else:
                err("delete %s: %s %r" % (cid, st, js))

    def run(self):
        deadline = time.time() + secs
        while self.base is None and time.time() < deadline:
            self.base = self.create("flows", base=True)
            if self.base is None:
                time.sleep(0.1)
        while time.time() < deadline:
            self.step()

    def check(self, conn):
        for (coll, cid), ent in self.model.items():
            st, js = conn.req("GET", "/api/%s/%s/" % (coll, cid))
            st2, js2 = conn.req("GET", "/api/apps/%s/status/" % cid)
            if st == 404:
                got = None
            elif st == 200 and st2 == 200:
                got = {"fields": view(js), "status": js2["status"]}
            else:
                err("check %s: %s %s" % (cid, st, st2))
                continue
            if got not in ent["poss"]:
                err("check %s %s: store %r, model allows %r" % (coll, cid, got, ent["poss"]))

clients = [Client(i) for i in range(nclients)]
t0 = time.time()
for c in clients:
    c.start()
for c in clients:
    c.join()
print("soak: load done in %.0fs; answers: %s" % (time.time() - t0, counts), file=sys.stderr)

# Stop the restarter; it leaves the backend up.
open(os.path.join(scratch, "stop"), "w").close()
deadline = time.time() + 60
while not os.path.exists(os.path.join(scratch, "stopped")):
    if time.time() > deadline:
        err("the restarter did not stop (backend failed to restart?)")
        sys.exit(1)
    time.sleep(0.2)
conn = Conn()
deadline = time.time() + 30
while time.time() < deadline and conn.req("GET", "/readyz")[0] != 200:
    time.sleep(0.2)
for c in clients:
    c.check(conn)
known = {}
for c in clients:
    for (coll, cid), ent in c.model.items():
        known[cid] = True
maybe = {(coll, nm) for c in clients for coll, nm in c.maybe}
total = 0
for coll in ("flows", "apps"):
    st, js = conn.req("GET", "/api/%s/" % coll)
    if st != 200:
        err("final list %s: %s" % (coll, st))
        continue
    for obj in js:
        if not obj["name"].startswith("soak_"):
            continue
        total += 1
        if obj["id"] not in known and (coll, obj["name"]) not in maybe:
            err("final list %s: %s %s was never created" % (coll, obj["id"], obj["name"]))
print("soak: %d components checked, %d uncertain creates, %d errors"
      % (total, len(maybe), len(errors)), file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
: >"$scratch/stop"
wait "$restarter_pid" || true
if [ $rc -eq 0 ]; then
	echo "soak: ok"
	cleanup
	trap - EXIT
	rm -rf "$scratch"
else
	echo "soak: FAILED; logs in $scratch" >&2
	exit 1
fi
