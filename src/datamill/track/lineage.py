"""Lineage: the upstream graph of a version, down to the source files and their hashes."""

from __future__ import annotations

import json
from typing import Any

from datamill.store.workspace import Workspace

__all__ = ["lineage", "lineage_dot", "lineage_text"]


def lineage(ws: Workspace, ref: str, *, max_depth: int = 50) -> dict[str, Any]:
    """Nodes (versions, steps, files) and edges from ``ref`` upstream.

    Each step node carries its run, fingerprint and config; each file its sha256.
    """
    version_id, name, seq = ws.resolve(ref)
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, str]] = []

    def add_version(vid: str, label: str | None, depth: int,
                    made_by: dict[str, Any] | None = None) -> str:
        # Identical content from two steps is one version: prefer the step of the same run
        # that consumed it, so the graph follows the pipeline rather than the first producer.
        producer = made_by if made_by and made_by.get("output_version") == vid else None
        producer = producer or ws.catalog.producer(vid)
        key = f"version:{vid}"
        if producer is not None:
            key += f":{producer['run_id']}:{producer['step_id']}"
        if key in nodes:
            return key
        manifest = ws.manifest(vid)
        nodes[key] = {"kind": "version", "id": vid, "label": label or f"@{vid[:12]}",
                      "rows": manifest["num_rows"]}
        if depth < max_depth and producer is not None:
            edges.append({"from": add_execution(producer, depth), "to": key})
        return key

    def add_execution(ex: dict[str, Any], depth: int) -> str:
        key = f"step:{ex['run_id']}:{ex['step_id']}"
        if key in nodes:
            return key
        nodes[key] = {"kind": "step", "step": ex["step_id"], "uses": ex["uses"],
                      "run_id": ex["run_id"], "fingerprint": ex["fingerprint"],
                      "config": json.loads(ex["config"]), "code_version": ex["code_version"]}
        for item in json.loads(ex["inputs"] or "[]"):
            if "version" in item:
                same_run = ws.catalog.execution_in_run(ex["run_id"], item["step"])
                upstream = add_version(item["version"], None, depth + 1, same_run)
                edges.append({"from": upstream, "to": key})
            elif "url" in item:
                edges.append({"from": add_file(item), "to": key})
            elif "source" in item:  # a source read inside this step
                src_key = f"step:{ex['run_id']}:{item['step']}"
                if src_key not in nodes:
                    src = ws.catalog.execution_in_run(ex["run_id"], item["step"]) or {}
                    nodes[src_key] = {"kind": "step", "step": item["step"], "run_id": ex["run_id"],
                                      "uses": src.get("uses"), "fingerprint": item["source"],
                                      "config": json.loads(src.get("config") or "{}"), "fused": True}
                    for file in item.get("files", []):
                        edges.append({"from": add_file(file), "to": src_key})
                edges.append({"from": src_key, "to": key})
        return key

    def add_file(item: dict[str, Any]) -> str:
        key = f"file:{item['url']}"
        nodes.setdefault(key, {"kind": "file", "url": item["url"], "sha256": item.get("sha256"),
                               "size": item.get("size")})
        return key

    named = ws.catalog.named_by(name, seq) if name and seq else None
    root = add_version(version_id, f"{name}@{seq}" if name else None, 0, named)
    return {"root": root, "nodes": nodes, "edges": edges}


def lineage_text(graph: dict[str, Any]) -> str:
    """An indented tree from the version down to its source files."""
    upstream: dict[str, list[str]] = {}
    for edge in graph["edges"]:
        upstream.setdefault(edge["to"], []).append(edge["from"])
    lines: list[str] = []

    def label(key: str) -> str:
        node = graph["nodes"][key]
        if node["kind"] == "version":
            return f"{node['label']}  ({node['rows']:,} rows, version {node['id'][:12]})"
        if node["kind"] == "step":
            uses = f" [{node['uses']}]" if node.get("uses") else ""
            return f"step {node['step']}{uses}  run {node['run_id']}"
        if str(node["url"]).startswith("live:"):  # a database, API or site: read at that run
            return f"live source (no file), read in run {node['sha256']}"
        return f"file {node['url']}  sha256 {str(node['sha256'])[:12]}"

    def walk(key: str, prefix: str, seen: frozenset[str]) -> None:
        for i, parent in enumerate(sorted(set(upstream.get(key, [])))):
            last = i == len(set(upstream.get(key, []))) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{label(parent)}")
            if parent not in seen:
                walk(parent, prefix + ("    " if last else "│   "), seen | {parent})

    lines.append(label(graph["root"]))
    walk(graph["root"], "", frozenset({graph["root"]}))
    return "\n".join(lines)


def lineage_dot(graph: dict[str, Any]) -> str:
    """Graphviz DOT text of the lineage graph."""
    shapes = {"version": "box", "step": "ellipse", "file": "note"}
    out = ["digraph lineage {", "  rankdir=LR;"]
    for key, node in graph["nodes"].items():
        if node["kind"] == "version":
            text = str(node["label"])
        elif node["kind"] == "step":
            text = str(node["step"])
        else:
            text = str(node["url"]).rsplit("/", 1)[-1]
        out.append(f"  {json.dumps(key)} [label={json.dumps(text)}, shape={shapes[node['kind']]}];")
    for edge in graph["edges"]:
        out.append(f"  {json.dumps(edge['from'])} -> {json.dumps(edge['to'])};")
    out.append("}")
    return "\n".join(out)
