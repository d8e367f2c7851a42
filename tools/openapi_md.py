#!/usr/bin/env python3
"""openapi_md.py - docs/api.md, the REST API reference, from
gateway/openapi.json.

    tools/openapi_md.py            write docs/api.md
    tools/openapi_md.py --check    exit 1 (and show the difference) when
                                   docs/api.md is not what the document
                                   gives; ctest's lint.docs_api_md runs this
    tools/openapi_md.py [--check] SPEC OUT   other files

Everything in the reference comes from the document: every path and
method, its parameters, request body, every response with its status,
headers, body schema and example, the shared responses, headers,
parameters and schemas, and the security schemes. The page is a rendering:
a change to the REST surface edits gateway/openapi.json (which
tests/system/test_openapi.c holds to the gateway), then this script
regenerates the page (tools/docs.sh does both it and the HTML reference).

Python 3 standard library only.
"""

import difflib
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "gateway", "openapi.json")
OUT = os.path.join(ROOT, "docs", "api.md")
METHODS = ["get", "head", "options", "post", "put", "patch", "delete",
           "trace"]


def anchor(heading):
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def ref_name(ref):
    return ref.rsplit("/", 1)[-1]


def ref_kind(ref):
    # "#/components/schemas/X" -> "schemas"
    parts = ref.split("/")
    return parts[2] if len(parts) > 3 else ""


KIND_TITLE = {"schemas": "Schema", "responses": "Response",
              "parameters": "Parameter", "headers": "Header"}


def ref_heading(ref):
    return "%s `%s`" % (KIND_TITLE.get(ref_kind(ref), "Component"),
                        ref_name(ref))


def ref_link(ref):
    h = ref_heading(ref)
    return "[`%s`](#%s)" % (ref_name(ref), anchor(h))


def cell(text):
    """Text fit for one table cell."""
    if text is None:
        return ""
    text = str(text).strip().replace("|", "\\|")
    return re.sub(r"\s*\n\s*", "<br>", text)


class Doc:
    def __init__(self, spec):
        self.spec = spec
        self.comp = spec.get("components", {})

    def resolve(self, obj):
        """Follows $ref (within this document) until an object remains."""
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj and seen < 32:
            kind, name = ref_kind(obj["$ref"]), ref_name(obj["$ref"])
            obj = self.comp.get(kind, {}).get(name, {})
            seen += 1
        return obj

    # ---- schemas ---------------------------------------------------------

    def type_of(self, s):
        """A schema in a few words, with links to named schemas."""
        if not isinstance(s, dict):
            return "any"
        if "$ref" in s:
            return ref_link(s["$ref"])
        for key, word in (("oneOf", "one of"), ("anyOf", "any of"),
                          ("allOf", "all of")):
            if key in s:
                alts = [self.type_of(x) for x in s[key]]
                return "%s: %s" % (word, ", ".join(alts))
        t = s.get("type")
        if "enum" in s:
            vals = ["`%s`" % json.dumps(v) for v in s["enum"]]
            out = vals[0] if len(vals) == 1 else "one of " + ", ".join(vals)
        elif t == "array":
            out = "array of " + self.type_of(s.get("items", {}))
        elif t == "object" or "properties" in s:
            ap = s.get("additionalProperties")
            if isinstance(ap, dict) and not s.get("properties"):
                out = "object: each value " + self.type_of(ap)
            else:
                out = "object"
        elif t is None:
            out = "any"
        else:
            out = t
            if "format" in s:
                out += " (%s)" % s["format"]
        if s.get("nullable"):
            out += " or null"
        return out

    @staticmethod
    def rules(s):
        """The constraints of a schema as short phrases."""
        if not isinstance(s, dict):
            return ""
        r = []
        if "minLength" in s or "maxLength" in s:
            r.append("length %s..%s" % (s.get("minLength", 0),
                                        s.get("maxLength", "")))
        if "minimum" in s or "maximum" in s:
            r.append("%s..%s" % (s.get("minimum", ""),
                                 s.get("maximum", "")))
        if "minItems" in s or "maxItems" in s:
            r.append("%s..%s items" % (s.get("minItems", 0),
                                       s.get("maxItems", "")))
        if s.get("uniqueItems"):
            r.append("no duplicates")
        if "minProperties" in s:
            r.append("at least %d key(s)" % s["minProperties"])
        if "pattern" in s:
            r.append("pattern `%s`" % s["pattern"])
        if "default" in s:
            r.append("default `%s`" % json.dumps(s["default"]))
        if s.get("readOnly"):
            r.append("read-only")
        if s.get("writeOnly"):
            r.append("write-only")
        items = s.get("items")
        if isinstance(items, dict) and "$ref" not in items:
            inner = Doc.rules(items)
            if inner:
                r.append("each item: " + inner)
        return "; ".join(r)

    def schema_table(self, s, out):
        """The properties of an object schema as a table."""
        s = self.resolve(s)
        props = s.get("properties") or {}
        if not props:
            return
        required = set(s.get("required", []))
        out.append("| field | type | required | rules | description |")
        out.append("| --- | --- | --- | --- | --- |")
        for name, p in props.items():
            target = self.resolve(p) if "$ref" in p else p
            desc = p.get("description") or target.get("description", "")
            out.append("| `%s` | %s | %s | %s | %s |" % (
                name, cell(self.type_of(p)),
                "yes" if name in required else "no",
                cell(self.rules(target)), cell(desc)))
        ap = s.get("additionalProperties")
        if ap is False:
            out.append("")
            out.append("No other fields.")
        elif isinstance(ap, dict):
            out.append("")
            out.append("Other fields: %s." % self.type_of(ap))
        out.append("")

    # ---- pieces of an operation ------------------------------------------

    def example_of(self, media):
        if "example" in media:
            return media["example"]
        for ex in (media.get("examples") or {}).values():
            ex = self.resolve(ex)
            if "value" in ex:
                return ex["value"]
        return None

    @staticmethod
    def example_block(value, media_type, out):
        if isinstance(value, str) and not media_type.endswith("json"):
            out.append("```text")
            out.append(value.rstrip("\n"))
        else:
            out.append("```json")
            out.append(json.dumps(value, indent=2, ensure_ascii=False))
        out.append("```")
        out.append("")

    def header_words(self, headers):
        words = []
        for name, h in (headers or {}).items():
            if "$ref" in h:
                words.append("[`%s`](#%s)" % (
                    name, anchor(ref_heading(h["$ref"]))))
            else:
                words.append("`%s`" % name)
        return ", ".join(words)

    def body_words(self, content):
        words = []
        for mt, media in (content or {}).items():
            schema = media.get("schema")
            words.append("`%s`%s" % (
                mt, ": " + self.type_of(schema) if schema else ""))
        return "; ".join(words)

    def parameters(self, params, out):
        if not params:
            return
        out.append("| parameter | in | type | required | description |")
        out.append("| --- | --- | --- | --- | --- |")
        for p in params:
            link = ""
            if "$ref" in p:
                link = " (" + ref_link(p["$ref"]) + ")"
            q = self.resolve(p)
            s = q.get("schema", {})
            rules = self.rules(self.resolve(s))
            desc = q.get("description", "")
            if rules:
                desc = "%s (%s)" % (desc, rules) if desc else rules
            if "example" in q:
                desc += " Example: `%s`." % (
                    q["example"] if isinstance(q["example"], str)
                    else json.dumps(q["example"]))
            out.append("| `%s`%s | %s | %s | %s | %s |" % (
                q.get("name", "?"), link, q.get("in", "?"),
                cell(self.type_of(s)),
                "yes" if q.get("required") else "no", cell(desc)))
        out.append("")

    def security_words(self, op):
        sec = op.get("security", self.spec.get("security"))
        if not sec:
            return "none"
        alts = []
        for req in sec:
            if not req:
                alts.append("none")
            else:
                alts.append(" and ".join(
                    "[`%s`](#authentication)" % k for k in req))
        return " or ".join(alts)

    def operation(self, path, method, item, op, out):
        title = "`%s %s`" % (method.upper(), path)
        out.append("### " + title)
        out.append("")
        line = op.get("summary", "")
        if op.get("operationId"):
            line += " (operation `%s`)" % op["operationId"]
        if op.get("deprecated"):
            line += ". **Deprecated.**"
        out.append(line.strip() + ".")
        out.append("")
        if op.get("description"):
            out.append(op["description"].strip())
            out.append("")
        out.append("Authentication: %s." % self.security_words(op))
        out.append("")
        params = list(item.get("parameters", []))
        names = {(self.resolve(p).get("name"), self.resolve(p).get("in"))
                 for p in op.get("parameters", [])}
        params = [p for p in params
                  if (self.resolve(p).get("name"),
                      self.resolve(p).get("in")) not in names]
        params += op.get("parameters", [])
        if params:
            out.append("**Parameters**")
            out.append("")
            self.parameters(params, out)
        body = op.get("requestBody")
        if body:
            body = self.resolve(body)
            out.append("**Request body** (%s): %s" % (
                "required" if body.get("required") else "optional",
                self.body_words(body.get("content"))))
            out.append("")
            if body.get("description"):
                out.append(body["description"].strip())
                out.append("")
            for mt, media in (body.get("content") or {}).items():
                ex = self.example_of(media)
                if ex is not None:
                    out.append("Example:")
                    out.append("")
                    self.example_block(ex, mt, out)
        out.append("**Responses**")
        out.append("")
        out.append("| status | meaning | body | headers |")
        out.append("| --- | --- | --- | --- |")
        examples = []
        for status, resp in op.get("responses", {}).items():
            r = self.resolve(resp)
            if "$ref" in resp:
                meaning = ref_link(resp["$ref"]) + " (shared)"
            else:
                meaning = cell(r.get("description", ""))
            body = cell(self.body_words(r.get("content")))
            for mt, media in (r.get("content") or {}).items():
                ex = self.example_of(media)
                if ex is None:
                    continue
                if status[:1] in "45" and mt.endswith("json"):
                    # An error body is short: shown in the row.
                    body += "<br>e.g. `%s`" % json.dumps(
                        ex, ensure_ascii=False).replace("|", "\\|")
                else:
                    examples.append((status, mt, ex))
            out.append("| %s | %s | %s | %s |" % (
                status, meaning, body, self.header_words(r.get("headers"))))
        out.append("")
        for status, mt, ex in examples:
            out.append("Example %s:" % status)
            out.append("")
            self.example_block(ex, mt, out)

    # ---- the page ---------------------------------------------------------

    def render(self, src_name):
        spec, out = self.spec, []
        info = spec.get("info", {})
        out.append("# REST API reference")
        out.append("")
        out.append("<!-- Generated from %s by tools/openapi_md.py: edit "
                   "those, then run it (or tools/docs.sh). ctest's "
                   "lint.docs_api_md fails while this page differs from "
                   "what the document gives. -->" % src_name)
        out.append("")
        line = "**%s**, version %s (OpenAPI %s), generated from `%s`" % (
            info.get("title", ""), info.get("version", ""),
            spec.get("openapi", ""), src_name)
        if info.get("license"):
            lic = info["license"]
            line += "; license %s" % lic.get("name", "")
        out.append(line + ". The running gateway serves the same document "
                   "at `/api/openapi.json`.")
        out.append("")
        for srv in spec.get("servers", []):
            out.append("Server: `%s`%s." % (
                srv.get("url", ""),
                " (%s)" % srv["description"] if srv.get("description")
                else ""))
            out.append("")
        if info.get("description"):
            out.append(info["description"].strip())
            out.append("")

        ops = []
        for path, item in spec.get("paths", {}).items():
            for m in METHODS:
                if m in item:
                    ops.append((path, m, item, item[m]))
        tags = [t.get("name") for t in spec.get("tags", [])]
        for _, _, _, op in ops:
            for t in op.get("tags", []) or ["other"]:
                if t not in tags:
                    tags.append(t)

        out.append("## Operations")
        out.append("")
        out.append("| method | path | summary |")
        out.append("| --- | --- | --- |")
        for path, m, _, op in ops:
            out.append("| %s | [`%s`](#%s) | %s |" % (
                m.upper(), path, anchor("`%s %s`" % (m.upper(), path)),
                cell(op.get("summary", ""))))
        out.append("")

        out.append("## Authentication")
        out.append("")
        schemes = self.comp.get("securitySchemes", {})
        for name, s in schemes.items():
            kind = s.get("type", "")
            if kind == "http":
                kind = "HTTP `%s`" % s.get("scheme", "")
                if s.get("bearerFormat"):
                    kind += " (%s)" % s["bearerFormat"]
            elif kind == "apiKey":
                kind = "API key in %s `%s`" % (s.get("in", ""),
                                               s.get("name", ""))
            out.append("- `%s`: %s. %s" % (name, kind,
                                           s.get("description", "").strip()))
        out.append("")
        out.append("Unless an operation says otherwise: %s." %
                   self.security_words({}))
        out.append("")

        tag_desc = {t.get("name"): t.get("description", "")
                    for t in spec.get("tags", [])}
        for tag in tags:
            mine = [o for o in ops
                    if (o[3].get("tags") or ["other"])[0] == tag]
            if not mine:
                continue
            out.append("## %s" % tag[:1].upper() + tag[1:])
            out.append("")
            if tag_desc.get(tag):
                out.append(tag_desc[tag].strip())
                out.append("")
            for path, m, item, op in mine:
                self.operation(path, m, item, op, out)

        resps = self.comp.get("responses", {})
        if resps:
            out.append("## Shared responses")
            out.append("")
            for name, r in resps.items():
                out.append("### " + ref_heading("#/components/responses/" +
                                                name))
                out.append("")
                out.append(r.get("description", "").strip())
                out.append("")
                if r.get("headers"):
                    out.append("Headers: %s." %
                               self.header_words(r["headers"]))
                    out.append("")
                for mt, media in (r.get("content") or {}).items():
                    out.append("Body: %s." % self.body_words({mt: media}))
                    out.append("")
                    ex = self.example_of(media)
                    if ex is not None:
                        self.example_block(ex, mt, out)

        params = self.comp.get("parameters", {})
        if params:
            out.append("## Shared parameters")
            out.append("")
            for name, p in params.items():
                out.append("### " + ref_heading("#/components/parameters/" +
                                                name))
                out.append("")
                self.parameters([p], out)

        headers = self.comp.get("headers", {})
        if headers:
            out.append("## Response headers")
            out.append("")
            for name, h in headers.items():
                out.append("### " + ref_heading("#/components/headers/" +
                                                name))
                out.append("")
                s = h.get("schema", {})
                rules = self.rules(s)
                out.append("%s%s. %s" % (
                    self.type_of(s), "; " + rules if rules else "",
                    h.get("description", "").strip()))
                out.append("")

        schemas = self.comp.get("schemas", {})
        if schemas:
            out.append("## Schemas")
            out.append("")
            for name, s in schemas.items():
                out.append("### " + ref_heading("#/components/schemas/" +
                                                name))
                out.append("")
                line = self.type_of(dict(s, description=None))
                rules = self.rules(s)
                if rules:
                    line += "; " + rules
                out.append(line + ".")
                out.append("")
                if s.get("description"):
                    out.append(s["description"].strip())
                    out.append("")
                self.schema_table(s, out)
        while out and out[-1] == "":
            out.pop()
        return "\n".join(out) + "\n"


def main(argv):
    check = "--check" in argv
    args = [a for a in argv[1:] if a != "--check"]
    if len(args) not in (0, 2) or any(a.startswith("-") for a in args):
        print("usage: openapi_md.py [--check] [SPEC OUT]", file=sys.stderr)
        return 2
    spec_path, out_path = (args if args else (SPEC, OUT))
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    name = os.path.relpath(os.path.abspath(spec_path), ROOT)
    if name.startswith(".."):
        name = os.path.basename(spec_path)
    text = Doc(spec).render(name)
    if not check:
        os.makedirs(os.path.dirname(os.path.abspath(out_path)),
                    exist_ok=True)
        with open(out_path, "w", encoding="utf-8") as f:
            f.write(text)
        return 0
    try:
        with open(out_path, encoding="utf-8") as f:
            have = f.read()
    except OSError as e:
        have = ""
        print("openapi_md.py: %s" % e, file=sys.stderr)
    if have == text:
        return 0
    print("%s is not what %s gives: run tools/openapi_md.py (or "
          "tools/docs.sh) and commit the result. The difference:" %
          (out_path, spec_path), file=sys.stderr)
    diff = list(difflib.unified_diff(have.splitlines(), text.splitlines(),
                                     "committed", "generated", lineterm=""))
    for line in diff[:60]:
        print(line, file=sys.stderr)
    if len(diff) > 60:
        print("... (%d more lines)" % (len(diff) - 60), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
