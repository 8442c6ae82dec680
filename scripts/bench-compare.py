#!/usr/bin/env python3
"""Prints a markdown table comparing `gsv-server bench` JSON with `bench-upstream.py` JSON.

usage: bench-compare.py OURS.json UPSTREAM.json [--title TEXT]
Ratios are ours/upstream for throughput (higher is better) and upstream/ours for times (so > 1
always means gsv-server is faster).
"""
import json
import sys


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    title = None
    if "--title" in sys.argv:
        title = sys.argv[sys.argv.index("--title") + 1]
        args = [a for a in args if a != title]
    ours = json.load(open(args[0]))
    up = json.load(open(args[1]))
    rows = []
    g = ours["gpt"]
    rows.append(("GPT batch 1, tokens/s", g["single"]["tokens_per_s"], up["gpt_b1"]["tokens_per_s"], "higher"))
    for b in g.get("batched", []):
        key = f"gpt_b{b['batch']}"
        if key in up:
            rows.append((f"GPT batch {b['batch']}, aggregate tokens/s", b["aggregate_tokens_per_s"], up[key]["tokens_per_s"], "higher"))
    if "sovits" in ours and "sovits" in up:
        rows.append(("SoVITS decode 10 s, real-time factor", ours["sovits"]["rtf"], up["sovits"]["rtf"], "lower"))
    if title:
        print(f"**{title}**\n")
    print(f"ours: {ours['device']} {ours.get('backend', '')} {ours['dtype']} (MLX {ours.get('mlx')}); "
          f"upstream: torch {up['torch']} {up['device']} {up['dtype']}{' ' + up['gpu'] if 'gpu' in up else ''}\n")
    print("| measure | gsv-server | upstream | ratio (>1 = gsv-server faster) |")
    print("| --- | ---: | ---: | ---: |")
    for name, o, u, better in rows:
        ratio = o / u if better == "higher" else u / o
        print(f"| {name} | {o:.3g} | {u:.3g} | {ratio:.2f}x |")
    pos = g["single"].get("per_position", [])
    if pos:
        print("\nPer-token time at decode position (gsv-server, batch 1): " +
              ", ".join(f"{p['position']}: {p['ms_per_token']:.2f} ms" for p in pos) +
              f" (spread {g['single']['position_spread'] * 100:.1f} %)")


if __name__ == "__main__":
    main()
