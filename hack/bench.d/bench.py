#!/usr/bin/env python3
"""Helper for hack/bench.

  bench.py config [--no-net] ROOTFS ARG...
                                  print a bundle config.json running ARG...
                                  (--no-net: without the network namespace)
  bench.py process ARG...         print the same config's process object (exec --process)
  bench.py meta OUT KEY=VALUE...  write OUT (JSON) from the pairs
  bench.py summary RAWDIR OUT     print the results table, write OUT (JSON)

RAWDIR holds what hack/bench measured:
  meta.json                 host facts, runtimes, settings
  status.tsv                scenario <TAB> runtime <TAB> reason   (could not be timed)
  <scenario>.r<N>.json      hyperfine --export-json, one per round
  par.tsv                   runtime rep create_us delete_us create_fail delete_fail
                            (rep 0 is the warm-up)
  rss.tsv                   runtime rep max_rss_kib exit_code
  size.tsv                  runtime bytes path
"""

import glob
import json
import os
import statistics
import sys


def config(rootfs, args, net=True):
    """runc spec's default config, with the changes the bench needs.

    No capabilities, resources, cgroupsPath or seccomp so that every runtime
    does the same work; terminal off; /sys/fs/cgroup not mounted.  Without
    net, the namespaces are the floor's (pid, ipc, uts, mount).
    """
    kinds = ("pid", "network", "ipc", "uts", "mount") if net else \
        ("pid", "ipc", "uts", "mount")
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                         "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in kinds],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }


# (key, label, unit) in table order.  Timed scenarios come from hyperfine.
TIMED = [
    ("run", "1 run /bin/true (create+start+wait+delete)"),
    ("run_spaced", "1b the same, runs 20 ms apart"),
    ("run_nonet", "1c run, no network namespace (the floor's)"),
    ("create_delete", "2 create + delete --force"),
    ("shim", "3 create,start,state,kill,delete (5 calls)"),
    ("state", "4 state of a running container"),
    ("exec", "4b exec of /bin/true (--process file)"),
]


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def stats(values):
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "stddev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def timed_results(raw, key, status):
    """Merge the rounds of one scenario: {name: result}."""
    merged = {}
    for path in sorted(glob.glob(os.path.join(raw, key + ".r*.json"))):
        with open(path) as f:
            data = json.load(f)
        for r in data.get("results", []):
            name = r.get("command")
            m = merged.setdefault(name, {"times": [], "exit_codes": []})
            m["times"].extend(r.get("times") or [])
            codes = r.get("exit_codes")
            if codes is None:
                codes = [0] * len(r.get("times") or [])
            m["exit_codes"].extend(codes)
    out = {}
    for name, m in merged.items():
        ok = [t * 1000.0 for t, c in zip(m["times"], m["exit_codes"]) if c == 0]
        failed = sum(1 for c in m["exit_codes"] if c != 0)
        s = stats(ok)
        res = {"status": "ok" if s else "fail", "runs": len(m["times"]),
               "failed_runs": failed}
        if s:
            res.update({k + "_ms" if k != "n" else "ok_runs": v
                        for k, v in s.items()})
        out[name] = res
    for sc, rt, reason in status:
        if sc == key:
            out[rt] = {"status": "fail", "reason": reason}
    return out


def summary(raw, out_path):
    with open(os.path.join(raw, "meta.json")) as f:
        meta = json.load(f)
    runtimes = meta["runtimes"]
    ref = runtimes[0] if runtimes else None
    status = read_tsv(os.path.join(raw, "status.tsv"))

    scenarios = {}
    for key, _label in TIMED:
        scenarios[key] = timed_results(raw, key, status)

    # 5: concurrent create+start / delete.
    par = {}
    rows = read_tsv(os.path.join(raw, "par.tsv"))
    for rt in runtimes:
        mine = [r for r in rows if r[0] == rt and int(r[1]) > 0]
        if not mine:
            par[rt] = {"status": "fail", "reason": next(
                (s[2] for s in status if s[0] == "concurrent" and s[1] == rt),
                "not measured")}
            continue
        cms = [int(r[2]) / 1000.0 for r in mine]
        dms = [int(r[3]) / 1000.0 for r in mine]
        cs, ds = stats(cms), stats(dms)
        par[rt] = {
            "status": "ok",
            "reps": len(mine),
            "containers": meta.get("par"),
            "create_start_wall_median_ms": cs["median"],
            "delete_wall_median_ms": ds["median"],
            "create_start_failures_total": sum(int(r[4]) for r in mine),
            "delete_failures_total": sum(int(r[5]) for r in mine),
            "create_start_wall_ms": cms,
            "delete_wall_ms": dms,
        }
    scenarios["concurrent"] = par

    # 6: peak RSS of `run`, binary size.
    rss = {}
    rows = read_tsv(os.path.join(raw, "rss.tsv"))
    for rt in runtimes + ["floor"]:
        mine = [r for r in rows if r[0] == rt]
        ok = [int(r[2]) for r in mine if r[3] == "0" and r[2].isdigit()]
        if not ok:
            rss[rt] = {"status": "fail", "reason": next(
                (s[2] for s in status if s[0] == "rss" and s[1] == rt),
                "run failed" if mine else "not measured")}
        else:
            rss[rt] = {"status": "ok", "median_kib": statistics.median(ok),
                       "max_kib": max(ok), "runs": len(mine),
                       "failed_runs": len(mine) - len(ok)}
    scenarios["peak_rss_run"] = rss
    size = {}
    for r in read_tsv(os.path.join(raw, "size.tsv")):
        if r[1].isdigit():
            size[r[0]] = {"status": "ok", "bytes": int(r[1]), "path": r[2]}
        else:
            size[r[0]] = {"status": "fail", "reason": r[2] if len(r) > 2 else ""}
    scenarios["binary_size"] = size

    add_ratios(scenarios, ref)
    result = dict(meta)
    result["reference"] = ref
    result["ratio"] = "peer/%s (above 1: %s is faster or smaller)" % (ref, ref)
    result["scenarios"] = scenarios
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path + ".tmp", "w") as f:
        json.dump(result, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(out_path + ".tmp", out_path)

    print_table(meta, runtimes, ref, scenarios)


def add_ratios(sc, ref):
    """Add ratio (value/reference value) next to each headline number."""
    fields = {key: "median_ms" for key, _label in TIMED}
    fields["peak_rss_run"] = "median_kib"
    fields["binary_size"] = "bytes"
    for key, field in fields.items():
        base = sc[key].get(ref, {}).get(field)
        for name, res in sc[key].items():
            if base and res.get(field) is not None:
                res["ratio"] = res[field] / base
    for field in ("create_start_wall_median_ms", "delete_wall_median_ms"):
        base = sc["concurrent"].get(ref, {}).get(field)
        for name, res in sc["concurrent"].items():
            if base and res.get(field) is not None:
                res[field.replace("_median_ms", "_ratio")] = res[field] / base


def print_table(meta, runtimes, ref, sc):
    cols = runtimes + ["floor", "floor_net"]
    rows = []  # (label, {col: (value, note)})

    def cell(value, fmt, note=""):
        return (value, fmt, note)

    for key, label in TIMED:
        r = {}
        for col in cols:
            res = sc[key].get(col)
            if res is None:
                continue
            if res["status"] != "ok":
                r[col] = cell(None, "", "")
            else:
                note = ""
                if res["failed_runs"]:
                    note = " (%d/%d failed)" % (res["failed_runs"], res["runs"])
                r[col] = cell(res["median_ms"], "%.2f", note)
        rows.append((label + ", ms", r))

    par = sc["concurrent"]
    n = meta.get("par")
    for field, label in (
            ("create_start_wall_median_ms",
             "5 %s concurrent create+start, wall ms" % n),
            ("delete_wall_median_ms", "5 %s concurrent delete --force, wall ms" % n)):
        r = {}
        for rt in runtimes:
            res = par.get(rt, {})
            if res.get("status") != "ok":
                r[rt] = cell(None, "")
            else:
                fails = res["create_start_failures_total" if "create" in field
                            else "delete_failures_total"]
                note = (" (%d failed)" % fails) if fails else ""
                r[rt] = cell(res[field], "%.0f", note)
        rows.append((label, r))
    r = {}
    for rt in runtimes:
        res = par.get(rt, {})
        if res.get("status") == "ok":
            r[rt] = cell(res["create_start_failures_total"]
                         + res["delete_failures_total"], "%d", " of %d" % (
                             2 * n * res["reps"]))
    rows.append(("5 concurrent: failed calls", r))

    r = {}
    for col in cols:
        res = sc["peak_rss_run"].get(col)
        if res is None:
            continue
        if res["status"] != "ok":
            r[col] = cell(None, "")
        else:
            r[col] = cell(res["median_kib"] / 1024.0, "%.1f")
    rows.append(("6 peak RSS of `run`, MiB", r))
    r = {}
    for rt in runtimes:
        res = sc["binary_size"].get(rt)
        if res is None:
            continue
        r[rt] = cell(res["bytes"] / 1048576.0, "%.2f") if res["status"] == "ok" \
            else cell(None, "")
    rows.append(("6 binary size, MiB", r))

    def text(col, r, with_ratio):
        if col not in r:
            return "-"
        value, fmt, note = r[col]
        if value is None:
            return "fail"
        s = fmt % value + note
        if with_ratio and col != ref and ref in r and r[ref][0] and \
                "failed" not in s:
            s += " x%.2f" % (value / r[ref][0])
        return s

    ratio_rows = {i for i, (label, _r) in enumerate(rows)
                  if "failed calls" not in label}
    table = [["scenario"] + cols]
    for i, (label, r) in enumerate(rows):
        table.append([label] + [text(c, r, i in ratio_rows) for c in cols])
    widths = [max(len(row[i]) for row in table) for i in range(len(cols) + 1)]
    print()
    print("Medians; xN.NN = peer/%s (above 1: %s is faster/smaller)."
          % (ref, ref))
    for j, row in enumerate(table):
        print("  ".join(
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i])
            for i in range(len(row))))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    if "state_fs" in meta:
        print()
        print("The runtimes' state directories (--root): on %s; /run here is %s."
              % (meta["state_fs"], meta.get("run_fs", "?")))
    if "cpu_busy_before_pct" in meta:
        print()
        print("CPUs busy with other work: %s%% just before, %s%% just after"
              " (1 s samples; more than a few %% makes the numbers noisy)"
              % (meta["cpu_busy_before_pct"], meta.get("cpu_busy_after_pct", "?")))
    reasons = []
    for key, _label in TIMED:
        for col, res in sc[key].items():
            if res.get("reason"):
                reasons.append("%s/%s: %s" % (key, col, res["reason"]))
    for key in ("concurrent", "peak_rss_run", "binary_size"):
        for col, res in sc[key].items():
            if res.get("status") != "ok" and res.get("reason"):
                reasons.append("%s/%s: %s" % (key, col, res["reason"]))
    if reasons:
        print()
        print("fail means:")
        for line in reasons:
            print("  " + line)


def meta(out_path, pairs):
    data = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key == "runtimes":
            data[key] = value.split()
        elif value.isdigit():
            data[key] = int(value)
        else:
            data[key] = value
    with open(out_path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def main(argv):
    if len(argv) >= 3 and argv[1] == "meta":
        meta(argv[2], argv[3:])
        return 0
    if len(argv) >= 3 and argv[1] == "config":
        net = argv[2] != "--no-net"
        rest = argv[2:] if net else argv[3:]
        if not rest:
            sys.stderr.write(__doc__)
            return 2
        json.dump(config(rest[0], rest[1:], net=net), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if len(argv) >= 3 and argv[1] == "process":
        json.dump(config("/", argv[2:])["process"], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if len(argv) == 4 and argv[1] == "summary":
        summary(argv[2], argv[3])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
