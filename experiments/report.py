"""Tables, plots and target checks for experiments/driver.py.

write(doc, out, labels) writes out/results.md and out/*.svg from the results
document (the one saved as results.json) and returns the target checks;
console(doc, checks, labels) is what the driver prints at the end.
Python standard library only; the SVG is written by hand.
"""

from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape

PATTERN_TITLES = {
    "scma": ("Table 3", "SCMA: Single Client, Multiple Access"),
    "mcsa": ("Table 4", "MCSA: Multiple Client, Single Access"),
    "mcma": ("Table 5", "MCMA: Multiple Client, Multiple Access"),
}
T2_ORDER = ["native", "native-process", "wisp", "wisp-cgi", "wisp-cgi-noinit", "node", "wasmtime", "wasmtime-epoch"]
SYSTEM_ORDER = ["native", "wisp", "node", "wasmtime", "docker", "runc", "crun"]
COLORS = {
    "native": "#4d4d4d", "native-process": "#999999", "wisp": "#1b7837", "wisp-cgi": "#7fbf7b", "wisp-cgi-noinit": "#d9f0d3", "node": "#2166ac",
    "wasmtime": "#67a9cf", "wasmtime-epoch": "#d1e5f0", "docker": "#b2182b", "runc": "#ef8a62", "crun": "#f4a582",
}

# Targets, each a ratio measured in the same run.
MCSA_VS_NATIVE = 1.5
DOCKER_P99_OVER_WISP = 100.0
ONESHOT_OVER_WISP = 10.0
WASM_OVER_NATIVE = 1.3


def fmt(v, digits=2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}".replace(",", " ")
        if abs(v) >= 100:
            return f"{v:.1f}"
        return f"{v:.{digits}f}"
    return str(v)


def mib(kib) -> str:
    return "–" if kib is None else f"{kib / 1024:.1f}"


def shape_text(shape) -> str:
    clients, calls, ramp = shape
    s = f"{clients} client{'s' if clients != 1 else ''} × {calls} call{'s' if calls != 1 else ''}"
    return s + (f", starts over {ramp:g} s" if ramp else "")


def pattern_rows(doc, pattern):
    return [r for r in doc["patterns"] if r["pattern"] == pattern]


def find(doc, workload, pattern, system):
    for r in doc["patterns"]:
        if (r["workload"], r["pattern"], r["system"]) == (workload, pattern, system):
            return r
    return None


def lat(row, key):
    if not row:
        return None
    lm = row["summary"].get("latency_ms")
    return lm.get(key) if lm else None


# ---------------------------------------------------------------- checks

def checks(doc) -> list[dict]:
    out = []

    def add(name, value, target, met, detail=""):
        out.append({"name": name, "value": value, "target": target, "met": met, "detail": detail})

    pws = doc["config"]["pattern_workloads"]
    for w in pws:
        wisp, native = find(doc, w, "mcsa", "wisp"), find(doc, w, "mcsa", "native")
        for key in ("mean", "p99"):
            a, b = lat(wisp, key), lat(native, key)
            if a is None or b is None:
                add(f"MCSA {w}: wisp {key} within {MCSA_VS_NATIVE}x of native", None, f"≤ {MCSA_VS_NATIVE}x", None,
                    "not measured (needs wisp and native)")
            else:
                r = a / b
                add(f"MCSA {w}: wisp {key} within {MCSA_VS_NATIVE}x of native", r, f"≤ {MCSA_VS_NATIVE}x",
                    r <= MCSA_VS_NATIVE, f"wisp {a:.2f} ms, native {b:.2f} ms")
    for w in pws:
        a, b = lat(find(doc, w, "mcsa", "wisp"), "p99"), lat(find(doc, w, "mcsa", "docker"), "p99")
        name = f"MCSA {w}: wisp p99 ~{DOCKER_P99_OVER_WISP:.0f}x lower than docker p99"
        if a is None or b is None:
            add(name, None, f"≥ {DOCKER_P99_OVER_WISP:.0f}x", None, "not measured (needs wisp and docker)")
        else:
            add(name, b / a, f"≥ {DOCKER_P99_OVER_WISP:.0f}x", b / a >= DOCKER_P99_OVER_WISP,
                f"docker {b:.1f} ms, wisp {a:.2f} ms")
    for w in pws:
        for rt in ("runc", "crun"):
            ratios = []
            for p in doc["config"]["patterns"]:
                a, b = lat(find(doc, w, p, "wisp"), "mean"), lat(find(doc, w, p, rt), "mean")
                if a is not None and b is not None:
                    ratios.append((b / a, p, a, b))
            name = f"{w}: wisp mean ≥ {ONESHOT_OVER_WISP:.0f}x lower than {rt} (every pattern)"
            if not ratios:
                add(name, None, f"≥ {ONESHOT_OVER_WISP:.0f}x", None, f"not measured (needs wisp and {rt})")
            else:
                worst = min(ratios)
                add(name, worst[0], f"≥ {ONESHOT_OVER_WISP:.0f}x", worst[0] >= ONESHOT_OVER_WISP,
                    "lowest in " + worst[1].upper() + f": {rt} {worst[3]:.1f} ms, wisp {worst[2]:.2f} ms; all: "
                    + ", ".join(f"{p.upper()} {r:.0f}x" for r, p, _, _ in ratios))
    for w in pws:
        wisp, docker = find(doc, w, "scma", "wisp"), find(doc, w, "scma", "docker")
        a = lat(wisp, "mean")
        b = docker.get("mean_after_first_ms") if docker else None
        name = f"SCMA {w}: wisp mean (all calls) no worse than docker's warm calls (calls 2-n)"
        if a is None or b is None:
            add(name, None, "≤ 1x", None, "not measured (needs wisp and docker)")
        else:
            add(name, a / b, "≤ 1x", a <= b,
                f"wisp {a:.2f} ms, docker warm {b:.2f} ms (docker mean with its cold first call "
                f"{lat(docker, 'mean'):.2f} ms)")
    for w, rows in doc["table2"].items():
        a = rows.get("wisp")
        for ref, what in (("native-process", "a fresh native process (nothing cached, as a fresh instance)"),
                          ("native", "the native server (state kept between calls)")):
            b = rows.get(ref)
            name = f"Table 2 {w}: wasm execution in wisp within {WASM_OVER_NATIVE}x of {what}, medians"
            if not a or not b:
                add(name, None, f"≤ {WASM_OVER_NATIVE}x", None, "not measured (needs wisp and native)")
            else:
                r = a["median_ms"] / b["median_ms"]
                add(name, r, f"≤ {WASM_OVER_NATIVE}x", r <= WASM_OVER_NATIVE,
                    f"wisp {a['median_ms']:.3f} ms, native {b['median_ms']:.3f} ms")
        # The command's snapshot (its init parsed the classifier's weights at
        # deploy) against the native server, with the same binary run from
        # scratch beside it.
        pre, plain, native = rows.get("wisp-cgi"), rows.get("wisp-cgi-noinit"), rows.get("native")
        name = (f"Table 2 {w}: pre-initialized wasm command in wisp (a fresh instance per call) within "
                f"{WASM_OVER_NATIVE}x of the native server, medians")
        if not pre or not native:
            add(name, None, f"≤ {WASM_OVER_NATIVE}x", None, "not measured (needs wisp and native)")
        else:
            r = pre["median_ms"] / native["median_ms"]
            detail = f"pre-initialized {pre['median_ms']:.3f} ms, native {native['median_ms']:.3f} ms"
            if plain:
                detail += f", without init {plain['median_ms']:.3f} ms ({plain['median_ms'] / native['median_ms']:.2f}x)"
            add(name, r, f"≤ {WASM_OVER_NATIVE}x", r <= WASM_OVER_NATIVE, detail)
    return out


def check_lines(cs) -> list[str]:
    lines = []
    for c in cs:
        state = "not measured" if c["met"] is None else ("met" if c["met"] else "NOT MET")
        v = "–" if c["value"] is None else f"{c['value']:.2f}x"
        lines.append(f"| {c['name']} | {v} | {c['target']} | **{state}** | {c['detail']} |")
    return lines


# ---------------------------------------------------------------- markdown

def table2_md(doc, labels) -> list[str]:
    t2 = doc["table2"]
    if not t2:
        return ["(not run: it needs at least one of native, wisp, node, wasmtime)", ""]
    cfg = doc["config"]
    lines = [
        f"Execution time of one call, measured inside the server around the library call "
        f"(`X-Compute-Ns`); {cfg['t2_calls']} sequential calls per system after {cfg['t2_warmup']} warm-up calls, "
        "the servers running side by side and called round-robin on one kept-alive connection each. "
        "Nearest-rank median and 90th percentile. \"call\" is the whole call as the client (the driver, in "
        "Python) saw it; \"call − compute\" the median over calls of the difference, i.e. what a call costs "
        "beyond the library call: HTTP on loopback, the client, and for wasm creating and dropping the instance "
        "(for the fresh process: spawning it). "
        "Every wasm call runs in a fresh instance: nothing survives from one call to the next (the classifier "
        "parses its 828 KB of weights on every call, except in the pre-initialized command, which starts from "
        "the snapshot its init left at deploy; the allocator starts from an empty heap, memory pages "
        "are touched for the first time). The native server keeps its process state between calls (the "
        "parsed weights, a warm heap); \"native (fresh process)\" runs the native `workload` as a CGI program, "
        "a new process per call, which starts from nothing as an instance does (its spawn is not in the "
        "figure, only the library call). The two ratio columns compare each median with these two. "
        "\"wasmtime serve -W timeout\" is the same server with a 60 s time limit, which makes wasmtime compile "
        "the component with epoch interruption — a check of the epoch counter at every function entry and "
        "loop head — as wisp does to enforce its time limits.",
        "",
        "| workload | system | median ms | p90 ms | min ms | / native process | / native server | call median ms "
        "| call − compute ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w, rows in t2.items():
        proc, nat = rows.get("native-process"), rows.get("native")
        for s in T2_ORDER:
            r = rows.get(s)
            if not r:
                continue
            r1 = f"{r['median_ms'] / proc['median_ms']:.2f}" if proc else "–"
            r2 = f"{r['median_ms'] / nat['median_ms']:.2f}" if nat else "–"
            lines.append(f"| {w} | {labels[s]} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} | {r['min_ms']:.3f} | "
                         f"{r1} | {r2} | {r['call_median_ms']:.2f} | {r['overhead_median_ms']:.2f} |")
    lines.append("")
    return lines


def cold_text(r) -> str:
    if "cold_starts" not in r:
        return "n/a"
    s = str(r["cold_starts"])
    if r["system"] == "docker" and r.get("warm_starts") is not None:
        s += f" (+{r['warm_starts']} warm)"
    return s


def pattern_md(doc, pattern, labels) -> list[str]:
    rows = pattern_rows(doc, pattern)
    num, title = PATTERN_TITLES[pattern]
    shape = doc["config"]["patterns"][pattern]
    lines = [f"### {num}: {title} ({shape_text(shape)})", ""]
    if not rows:
        return lines + ["(not run)", ""]
    later = shape[1] > 1
    extra = " mean after 1st ms |" if later else ""
    lines += [
        "| workload | system | ok / calls | min ms | mean ms | p50 ms | p99 ms | max ms |" + extra
        + " req/s | cold starts |",
        "|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if later else "") + "---:|---:|",
    ]
    for r in rows:
        sm = r["summary"]
        lm = sm.get("latency_ms") or {}
        ok = f"{sm['ok']} / {sm['calls']}" + (f" ({sm['errors']} errors)" if sm["errors"] else "")
        after = f" {fmt(r.get('mean_after_first_ms'))} |" if later else ""
        lines.append(
            f"| {r['workload']} | {labels[r['system']]} | {ok} | {fmt(lm.get('min'))} | {fmt(lm.get('mean'))} | "
            f"{fmt(lm.get('p50'))} | {fmt(lm.get('p99'))} | {fmt(lm.get('max'))} |{after} "
            f"{fmt(sm.get('throughput_rps'), 1)} | {cold_text(r)} |")
    lines.append("")
    return lines


def memory_md(doc, labels) -> list[str]:
    lines = [
        "Peak resident memory of each system's server process(es) in each pattern run: for the servers that run "
        "the functions in their own process (wisp, native, Node.js, wasmtime serve), `VmHWM` with the peak "
        "counter reset just before the run (`/proc/PID/clear_refs`), so it is that run's peak, baseline "
        "included. For docker, the gateway's peak (a gateway started for the run), "
        "and, read right after the run while its containers sit idle in the pool: the sum of the containers' "
        "memory-cgroup peaks (`memory.max_usage_in_bytes`: the action, the workload process it forks for each "
        "call, page cache charged to the container) and the proportional set size (PSS: shared pages split "
        "among their users) of each container's `containerd-shim` and `docker-proxy`. dockerd and containerd "
        "themselves are not counted. For runc and crun only the gateway is counted: each container lives for "
        "one call.",
        "",
        "| workload | pattern | system | server peak MiB | containers | containers' peak MiB | shims + proxies "
        "PSS MiB | total MiB | per container MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["patterns"]:
        m = r["memory"]
        if r["system"] == "docker":
            n = m.get("containers") or 0
            side = (m.get("shims_pss_kib") or 0) + (m.get("proxies_pss_kib") or 0)
            cont = m.get("containers_peak_kib") or 0
            total = (m.get("gateway_hwm_kib") or 0) + cont + side
            per = f"{(cont + side) / n / 1024:.1f}" if n else "–"
            lines.append(f"| {r['workload']} | {r['pattern'].upper()} | {labels['docker']} | "
                         f"{mib(m.get('gateway_hwm_kib'))} (gateway) | {n} | {mib(cont)} | {mib(side)} | "
                         f"{mib(total)} | {per} |")
        elif r["system"] in ("runc", "crun"):
            lines.append(f"| {r['workload']} | {r['pattern'].upper()} | {labels[r['system']]} | "
                         f"{mib(m.get('gateway_hwm_kib'))} (gateway) | 1 per call | – | – | "
                         f"{mib(m.get('gateway_hwm_kib'))} | – |")
        else:
            lines.append(f"| {r['workload']} | {r['pattern'].upper()} | {labels[r['system']]} | "
                         f"{mib(m.get('server_hwm_kib'))} | – | – | – | {mib(m.get('server_hwm_kib'))} | – |")
    lines.append("")
    return lines


def burst_md(doc, labels) -> list[str]:
    b = doc["burst"]
    if not b:
        return ["(not run)", ""]
    n = doc["config"]["burst"]
    lines = [
        f"A fresh server, three warm-up calls, then its peak-RSS counter reset (`/proc/PID/clear_refs`) and "
        f"{n} calls started at once (MCSA, no ramp). Rise = peak RSS during the burst − RSS just before. The rise "
        "divided by the calls is an upper bound on the memory each concurrent call adds; for wisp it is also "
        "divided by the peak number of calls it ran at once (its stats' `peak_concurrency`). Allocator "
        "caching and the runtime's own buffers are part of the rise.",
        "",
        "| workload | system | RSS before MiB | peak during MiB | rise MiB | rise / calls KiB | "
        "peak concurrency | rise / peak concurrency KiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in b:
        pc = r.get("peak_concurrency")
        per_pc = f"{r['delta_kib'] / pc:.0f}" if pc else "–"
        lines.append(f"| {r['workload']} | {labels[r['system']]} | {mib(r['rss_before_kib'])} | "
                     f"{mib(r['hwm_during_kib'])} | {mib(r['delta_kib'])} | {r['delta_kib'] / r['calls']:.0f} | "
                     f"{pc if pc else '–'} | {per_pc} |")
    lines.append("")
    return lines


def cold_md(doc, labels) -> list[str]:
    rows = doc.get("cold_starts") or []
    if not rows:
        return ["(not run)", ""]
    n = doc["config"]["cold_repeats"]
    lines = [
        f"The first call after a fresh start against the call right after it, {rows[0]['workload']}, "
        f"median of {n} start(s) (each on a new connection for the first call, the second on the same one). "
        "Start = from spawning the server (or gateway) until it listens. wisp is restarted on its data "
        "directory: the templates it held hot before are loaded back from its disk cache before it listens, so its first call is hot when the module was (one it had evicted is loaded from the disk cache on that call). Node.js compiles the "
        "module at start, but V8 compiles function bodies lazily on their first use. wasmtime serve compiles "
        "the component before it listens. docker: the first call starts a container (the gateway's "
        "`X-Start: cold`), the second reuses it. runc and crun create a container for every call.",
        "",
        "| system | start ms | first call ms | second call ms | first / second | cold starts seen |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for s in SYSTEM_ORDER:
        rs = [r for r in rows if r["system"] == s]
        if not rs:
            continue

        def med(key):
            xs = sorted(r[key] for r in rs)
            return xs[(len(xs) - 1) // 2]

        first, second = med("first_ms"), med("second_ms")
        seen = "n/a"
        if any("cold_starts" in r for r in rs):
            seen = " ".join(str(r.get("cold_starts", "?")) for r in rs) + " (per start, first + second call)"
        lines.append(f"| {labels[s]} | {med('ready_ms'):.0f} | {fmt(first)} | {fmt(second)} | "
                     f"{first / second:.1f}x | {seen} |")
    lines.append("")
    return lines


def machine_md(doc) -> list[str]:
    m = doc["machine"]
    v = m["versions"]
    vers = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    return [
        f"- mode: `{doc['mode']}` — `{doc['command'].strip()}`",
        f"- date: {doc['started']} → {doc['finished']} ({doc['duration_s']:.0f} s)",
        f"- machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, kernel {m['kernel']}, {m['os']}",
        f"- load average (1/5/15 min) at start: {doc['loadavg_start']}, at end: {doc['loadavg_end']}",
        f"- versions: {vers}",
        f"- systems: {', '.join(doc['systems'])}",
    ] + [f"- note: {n}" for n in doc["notes"]] + [""]


def markdown(doc, cs, labels) -> str:
    lines = ["# wisp experiments: results", ""] + machine_md(doc)
    lines += ["## Table 2: execution time, native vs WebAssembly", ""] + table2_md(doc, labels)
    lines += ["![Table 2](table2.svg)", ""] if doc["table2"] else []
    lines += [
        "## Tables 3–5: access patterns", "",
        "Every run drives one URL with `wisp load` (POST of the workload's sample input, one connection per "
        "client). wisp, the native server, Node.js and wasmtime serve are started once for all runs and "
        "called once per workload before them (the output check), so the runs see them deployed and idle. "
        "The docker gateway is restarted before each run, so each run starts with no container (an "
        "OpenWhisk invoker after its keep-alive); the runc and crun gateways are restarted too. The cold-start "
        "section below measures the first call after a fresh start for every system. Latency is per call, from sending the request (opening the client's connection for its "
        "first call) to the end of the answer; req/s is ok calls over the run's wall time (which includes the "
        "ramp). \"mean after 1st\": the mean of every client's calls after its first one (that one opens the "
        "client's connection and, on docker, may start a container). Cold starts: wisp — calls that loaded the module (from the disk cache or by compiling), from "
        "its stats API; docker — containers started (the gateway's `/stats`), warm = calls served by a running "
        "container; runc/crun — containers created (every call); the others have no such notion. The container "
        "systems are reached through the Python gateway (one more loopback hop), the others directly.", "",
    ]
    for p in doc["config"]["patterns"]:
        lines += pattern_md(doc, p, labels)
    for w in doc["config"]["pattern_workloads"]:
        if any(r["workload"] == w for r in doc["patterns"]):
            lines += [f"![latency, {w}](latency-{w}.svg)", ""]
    lines += ["## Cold starts", ""] + cold_md(doc, labels)
    lines += ["## Memory", ""] + memory_md(doc, labels)
    lines += ["### Memory per concurrent call", ""] + burst_md(doc, labels)
    lines += ["## Targets", "", "| check | measured | target | result | detail |", "|---|---:|---|---|---|"]
    lines += check_lines(cs) + [""]
    return "\n".join(lines)


def console(doc, cs, labels) -> str:
    lines = [""] + machine_md(doc)
    lines += ["Table 2: execution time (X-Compute-Ns)", ""] + table2_md(doc, labels)[2:]
    for p in doc["config"]["patterns"]:
        lines += pattern_md(doc, p, labels)
    lines += ["Cold starts", ""] + cold_md(doc, labels)[2:]
    lines += ["Memory", ""] + memory_md(doc, labels)[2:]
    lines += ["Memory per concurrent call", ""] + burst_md(doc, labels)[2:]
    lines += ["Targets (ratios measured in this run)", ""]
    for c in cs:
        state = "not measured" if c["met"] is None else ("met" if c["met"] else "NOT MET")
        v = "–" if c["value"] is None else f"{c['value']:.2f}x"
        lines.append(f"  [{state}] {c['name']}: {v} (target {c['target']}) {c['detail']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- SVG

def log_ticks(lo, hi):
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if a == b:
        b += 1
    return a, b


def bar_chart(title, ylabel, groups, series, values, labels, note=""):
    """Grouped bars on a log scale. values[(group, series)] = (solid, outline):
    a solid bar up to `solid`, an outlined box from there up to `outline`."""
    present = [s for s in series if any((g, s) in values for g in groups)]
    vals = [v for pair in values.values() for v in pair if v and v > 0]
    if not present or not vals:
        return None
    lo, hi = min(vals), max(vals)
    a, b = log_ticks(lo, hi)
    W, H = 900, 460
    left, right, top, bottom = 80, 200, 50, 70
    pw, ph = W - left - right, H - top - bottom

    def y(v):
        v = max(v, 10 ** a)
        return top + ph - (math.log10(v) - a) / (b - a) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{left + pw / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">'
           f'{escape(title)}</text>']
    for e in range(a, b + 1):
        for m in (1, 2, 5):
            v = m * 10 ** e
            if v > 10 ** b:
                break
            yy = y(v)
            out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" '
                       f'stroke="{"#bbb" if m == 1 else "#eee"}"/>')
            if m == 1 or b - a <= 2:
                out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{v:g}</text>')
    out.append(f'<text transform="translate(20 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
               f'{escape(ylabel)} (log scale)</text>')
    gw = pw / len(groups)
    bw = min(28, (gw - 20) / len(present))
    for gi, g in enumerate(groups):
        x0 = left + gi * gw + (gw - bw * len(present)) / 2
        out.append(f'<text x="{left + gi * gw + gw / 2:.1f}" y="{top + ph + 20}" text-anchor="middle">'
                   f'{escape(g)}</text>')
        for si, s in enumerate(present):
            if (g, s) not in values:
                continue
            solid, outline = values[(g, s)]
            x = x0 + si * bw
            base = top + ph
            if outline and solid and outline > solid:
                out.append(f'<rect x="{x + 1:.1f}" y="{y(outline):.1f}" width="{bw - 2:.1f}" '
                           f'height="{y(solid) - y(outline):.1f}" fill="white" stroke="{COLORS[s]}" '
                           'stroke-width="1.5"/>')
            if solid:
                out.append(f'<rect x="{x + 1:.1f}" y="{y(solid):.1f}" width="{bw - 2:.1f}" '
                           f'height="{base - y(solid):.1f}" fill="{COLORS[s]}"><title>{escape(labels[s])} '
                           f'{solid:.3g} / {outline:.3g}</title></rect>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="black"/>')
    lx, ly = left + pw + 15, top + 10
    for s in present:
        out.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{COLORS[s]}"/>')
        out.append(f'<text x="{lx + 18}" y="{ly + 10}">{escape(labels[s])}</text>')
        ly += 20
    if note:
        out.append(f'<text x="{left}" y="{H - 18}" fill="#555">{escape(note)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write(doc, out: Path, labels) -> list[dict]:
    cs = checks(doc)
    for old in out.glob("*.svg"):
        old.unlink()
    if doc["table2"]:
        groups = list(doc["table2"].keys())
        values = {(w, s): (r["median_ms"], r["p90_ms"]) for w, rows in doc["table2"].items() for s, r in rows.items()}
        svg = bar_chart("Table 2: execution time per call (X-Compute-Ns)", "ms", groups, T2_ORDER, values, labels,
                        "solid: median; outline: up to the 90th percentile")
        if svg:
            (out / "table2.svg").write_text(svg)
    for w in doc["config"]["pattern_workloads"]:
        rows = [r for r in doc["patterns"] if r["workload"] == w]
        if not rows:
            continue
        groups = [p.upper() for p in doc["config"]["patterns"]]
        values = {}
        for r in rows:
            lm = r["summary"].get("latency_ms")
            if lm:
                values[(r["pattern"].upper(), r["system"])] = (lm["mean"], lm["p99"])
        svg = bar_chart(f"Latency per call under the access patterns: {w}", "ms", groups, SYSTEM_ORDER, values,
                        labels, "solid: mean; outline: up to the 99th percentile")
        if svg:
            (out / f"latency-{w}.svg").write_text(svg)
    (out / "results.md").write_text(markdown(doc, cs, labels))
    return cs
