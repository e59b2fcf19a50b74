#!/usr/bin/python3
"""Peer runner: a flowgate workflow file run by nipype (Debian python3-nipype 1.8.5).

  /usr/bin/python3 bench/peers/nipype_run.py WORKFLOW.json --plugin MultiProc|LegacyMultiProc \
      --n-procs N --memory-gb G --poll S --base-dir DIR

One nipype ``Function`` node per workflow node; its function runs the node's argv with
``subprocess.run(check=True)``. Node ``n_procs`` / ``mem_gb`` are set from the workflow.
Dependencies are plain connections: every function returns a dummy ``out`` and takes one
optional input per predecessor (``d0``, ``d1``, ...), so a node with 500 needs gets 500
inputs and the graph holds exactly the workflow's nodes (no Merge/Join nodes).

``wf.run(plugin=..., plugin_args={'n_procs': N, 'memory_gb': G})`` with
``poll_sleep_duration`` = S, ``stop_on_first_crash`` false and crash files under DIR, which
should be fresh (empty) so that no cached result is reused. Everything nipype prints goes to
stderr; stdout gets exactly one JSON line:

  {"peer": "nipype-<plugin>-poll<S>", "workflow": NAME, "wall_s": <wf.run only>,
   "build_s": <graph build>, "total_s": <script start -> end of wf.run, incl. nipype import
   and graph build>, "status": "succeeded"|"failed", "nodes": N[, "error": "..."]}

Exit status 0 when the workflow succeeded, 1 when it failed, 2 for bad arguments.
"""
import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402


def run_argv(argv, **deps):
    """The function of every node (nipype re-creates it from source: imports inside)."""
    import subprocess

    subprocess.run(argv, check=True)
    return 1


def node_names(ids):
    """Valid, unique nipype node names (``^[\\w-]+$``) for the workflow's node ids."""
    names, used = {}, set()
    for i, node_id in enumerate(ids):
        name = re.sub(r"[^\w-]", "_", node_id) or "node"
        if not re.match(r"^[A-Za-z_]", name):
            name = "n_" + name
        if name in used:
            name = "%s_%d" % (name, i)
        used.add(name)
        names[node_id] = name
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workflow")
    ap.add_argument("--plugin", choices=["MultiProc", "LegacyMultiProc"], required=True)
    ap.add_argument("--n-procs", type=int, required=True)
    ap.add_argument("--memory-gb", type=float, required=True)
    ap.add_argument("--poll", type=float, default=2.0)
    ap.add_argument("--base-dir", required=True)
    args = ap.parse_args()

    with open(args.workflow) as f:
        wf_spec = json.load(f)
    name = wf_spec.get("name") or os.path.splitext(os.path.basename(args.workflow))[0]
    nodes = wf_spec["nodes"]
    peer = "nipype-%s-poll%s" % (args.plugin, ("%g" % args.poll))
    base_dir = os.path.abspath(args.base_dir)
    os.makedirs(base_dir, exist_ok=True)

    # nipype logs to stdout; keep the real stdout for the result line only. Pool workers and
    # node processes inherit fd 1 = stderr.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)

    os.environ["NIPYPE_NO_ET"] = "1"  # no etelemetry version check over the network
    from nipype import Function, Node, Workflow

    t_build = time.perf_counter()
    names = node_names([n["id"] for n in nodes])
    wf = Workflow(name=re.sub(r"[^\w-]", "_", name) or "workflow", base_dir=base_dir)
    wf.config["execution"] = {
        "poll_sleep_duration": args.poll,
        "stop_on_first_crash": False,
        "crashdump_dir": os.path.join(base_dir, "crash"),
        "check_version": False,
    }
    by_id = {}
    for n in nodes:
        needs = n.get("needs") or []
        fn = Function(
            input_names=["argv"] + ["d%d" % i for i in range(len(needs))],
            output_names=["out"],
            function=run_argv,
        )
        node = Node(fn, name=names[n["id"]], n_procs=int(n.get("n_procs", 1)), mem_gb=float(n.get("mem_gb", 0.2)))
        node.inputs.argv = list(n["command"])
        by_id[n["id"]] = node
        wf.add_nodes([node])
    wf.connect(
        [
            (by_id[dep], by_id[n["id"]], [("out", "d%d" % i)])
            for n in nodes
            for i, dep in enumerate(n.get("needs") or [])
        ]
    )
    t_run = time.perf_counter()

    status, error = "succeeded", None
    try:
        wf.run(plugin=args.plugin, plugin_args={"n_procs": args.n_procs, "memory_gb": args.memory_gb})
    except Exception as err:  # nipype raises RuntimeError when nodes crashed
        # Its message can be a whole traceback: keep the last line (the root cause).
        lines = [l.strip() for l in str(err).splitlines() if l.strip()]
        status, error = "failed", ("%s: %s" % (type(err).__name__, lines[-1] if lines else ""))[:500]
    t_end = time.perf_counter()

    line = {
        "peer": peer,
        "workflow": name,
        "wall_s": round(t_end - t_run, 3),
        "build_s": round(t_run - t_build, 3),
        "total_s": round(t_end - T_START, 3),
        "status": status,
        "nodes": len(nodes),
    }
    if error is not None:
        line["error"] = error
    sys.stdout.flush()
    os.write(result_fd, (json.dumps(line) + "\n").encode())
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
