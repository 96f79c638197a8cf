#!/usr/bin/env python3
"""The layer check: every #include in core/, cim/ and psremote/ points down.

core/ is in layers (base < model, net < wsman < api); the backends cim/ and
psremote/ sit on all of core/ and never include each other; core/ reaches a
backend only through core/api/backend.h, so no core file includes a backend
header. CMake gives each layer only the include directories it may use, so a
violation usually fails to compile; this check says the same from the
sources, with the file, the line and the rule, and also catches what the
compiler cannot (a header name that two folders both have, a relative path
that climbs out of a folder).

  layers.py [--root DIR]   check the tree; exit 1 with one line per violation
  layers.py --self-test    plant violations in a copy of the tree and prove
                           that each is reported (and that the clean tree
                           passes)
"""
import argparse
import os
import re
import shutil
import sys
import tempfile

# Which folders each folder may include from. Mirrors RMS_LAYER_* in the
# top-level CMakeLists.txt.
CORE = ["core/base", "core/model", "core/net", "core/wsman", "core/api"]
ALLOWED = {
    "core/base": {"core/base"},
    "core/model": {"core/base", "core/model"},
    "core/net": {"core/base", "core/net"},
    "core/wsman": {"core/base", "core/model", "core/net", "core/wsman"},
    "core/api": set(CORE),
    "cim": set(CORE) | {"cim"},
    "psremote": set(CORE) | {"psremote"},
}
FOLDERS = list(ALLOWED)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
# Calls the library never makes: a blocking transfer (the engine steps
# curl's multi interface instead) or a thread of its own.
FORBIDDEN = re.compile(r'\b(curl_easy_perform|pthread_create|thrd_create|fork)\s*\(')


def sources(root):
    for folder in FOLDERS:
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if name.endswith((".c", ".h")):
                yield folder, name


def check(root):
    """Returns the list of violations, one readable line each."""
    problems = []
    owner = {}  # header name -> folder
    for folder, name in sources(root):
        if name.endswith(".h"):
            if name in owner:
                problems.append(f"{folder}/{name}: header name also in {owner[name]}/ "
                                "(includes resolve by name, so names must be unique)")
            else:
                owner[name] = folder
    for folder, name in sources(root):
        rel = f"{folder}/{name}"
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                code = line.split("//")[0]
                call = FORBIDDEN.search(code)
                if call and not code.lstrip().startswith(("*", "/*")):
                    problems.append(f"{rel}:{lineno}: calls {call.group(1)}: the library "
                                    "never blocks in a transfer nor starts threads or "
                                    "processes")
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1)
                if target.startswith("remsess/"):
                    continue  # the public headers: every layer may use them
                if "/" in target:
                    problems.append(f"{rel}:{lineno}: includes \"{target}\" by path; "
                                    "include internal headers by name")
                    continue
                where = owner.get(target)
                if where is None:
                    problems.append(f"{rel}:{lineno}: includes \"{target}\", which no "
                                    "layer folder has")
                elif where not in ALLOWED[folder]:
                    if folder in ("cim", "psremote") and where in ("cim", "psremote"):
                        why = "a backend includes the other backend's internals"
                    elif where in ("cim", "psremote"):
                        why = "core/ reaches a backend only through core/api/backend.h"
                    else:
                        why = f"{folder} may include only {', '.join(sorted(ALLOWED[folder]))}"
                    problems.append(f"{rel}:{lineno}: includes {where}/{target}: {why}")
    return problems


def self_test(root):
    clean = check(root)
    if clean:
        print("the tree itself has violations:", *clean, sep="\n  ")
        return 1
    plants = [
        # (file, header to include, words the report must contain)
        ("core/net/http.c", "value_internal.h", "core/net may include only"),
        ("core/base/util.c", "wsman.h", "core/base may include only"),
        ("core/model/value.c", "http.h", "core/model may include only"),
        ("core/api/op.c", "ps_limits.h", "only through core/api/backend.h"),
        ("cim/cim_backend.c", "ssh.h", "other backend's internals"),
        ("psremote/ps_backend.c", "cim_nothing_here.h", "which no layer folder has"),
    ]
    failures = 0
    for rel, header, words in plants:
        with tempfile.TemporaryDirectory() as tmp:
            for folder in FOLDERS:
                src = os.path.join(root, folder)
                if os.path.isdir(src):
                    shutil.copytree(src, os.path.join(tmp, folder))
            path = os.path.join(tmp, rel)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(f'#include "{header}"\n' + text)
            found = [p for p in check(tmp) if p.startswith(f"{rel}:1:") and words in p]
            if found:
                print(f"planted {header} in {rel}: reported: {found[0]}")
            else:
                print(f"planted {header} in {rel}: NOT reported")
                failures += 1
    # A forbidden call is reported too.
    with tempfile.TemporaryDirectory() as tmp:
        for folder in FOLDERS:
            src = os.path.join(root, folder)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(tmp, folder))
        with open(os.path.join(tmp, "core/net/http.c"), "a", encoding="utf-8") as f:
            f.write("\nstatic void planted(CURL *c) { curl_easy_perform(c); }\n")
        bad = [p for p in check(tmp) if "calls curl_easy_perform" in p]
        print(f"planted curl_easy_perform: {'reported: ' + bad[0] if bad else 'NOT reported'}")
        failures += 0 if bad else 1
    # A duplicate header name is reported too.
    with tempfile.TemporaryDirectory() as tmp:
        for folder in FOLDERS:
            src = os.path.join(root, folder)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(tmp, folder))
        shutil.copy(os.path.join(tmp, "core/base/util.h"), os.path.join(tmp, "cim/util.h"))
        dup = [p for p in check(tmp) if "header name also in" in p]
        print(f"duplicate util.h: {'reported: ' + dup[0] if dup else 'NOT reported'}")
        failures += 0 if dup else 1
    print(f"{len(plants) + 2 - failures} passed, {failures} failed")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    if args.self_test:
        return self_test(root)
    problems = check(root)
    for p in problems:
        print(p)
    n = sum(1 for _ in sources(root))
    print(f"layers: {n} files checked, {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
