"""Medians, per layer group, of ours_N.jsonl (bench/profile.ts --cpu-engine) and ort_N.jsonl
(bench/cpu/ort_profile.ts), run alternately: python3 bench/results/2026-12-03-cpu-infer-layers/summarize.py"""
import json,glob,re,collections,statistics,sys
def load(pat):
  runs=[]
  for f in sorted(glob.glob(pat)):
    rows=[json.loads(l) for l in open(f) if l.startswith('{')]
    runs.append(rows)
  return runs
ours=load('bench/results/2026-12-03-cpu-infer-layers/ours_*.jsonl'); ort=load('bench/results/2026-12-03-cpu-infer-layers/ort_*.jsonl')
def ours_groups(rows):
  g=collections.defaultdict(float); tot=None
  for r in rows:
    if r.get('group')=='total': tot=r['wall_ms']; continue
    if r.get('group')!='kernel+shape': continue
    m=re.match(r'(wino\d|direct) (\d+)x\d+ (\d+)(?:\+(\d+))?>(\d+)',r['name'])
    if m:
      h=int(m.group(2)); ci=int(m.group(3))+int(m.group(4) or 0); ci=3 if ci==4 else ci
      g[f'conv {h}']+=r['ms']; g[f'conv {h} {ci}>{m.group(5)}']+=r['ms']
    else: g['other '+r['name'].split()[0]]+=r['ms']
    g['sum']+=r['ms']
  g['wall']=tot; return g
def ort_groups(rows):
  g=collections.defaultdict(float); tot=None
  for r in rows:
    if r.get('group')=='total': tot=statistics.median(r['run_ms']); continue
    if r.get('group')!='kernel+shape': continue
    m=re.match(r'Conv 1x(\d+)x(\d+)x\d+, (\d+)x\d+x3x3',r['name'])
    if m:
      h=int(m.group(2)); ci=int(m.group(1)); co=int(m.group(3))
      g[f'conv {h}']+=r['ms']; g[f'conv {h} {ci}>{co}']+=r['ms']
    else: g['other '+r['name'].split()[0]]+=r['ms']
    g['sum']+=r['ms']
  g['wall']=tot; return g
O=[ours_groups(r) for r in ours]; T=[ort_groups(r) for r in ort]
keys=sorted(set(k for g in O+T for k in g), key=lambda k:(k.split()[0], -int(k.split()[1]) if len(k.split())>1 and k.split()[1].isdigit() else 0, k))
for k in keys:
  a=[g.get(k,0) for g in O]; b=[g.get(k,0) for g in T]
  ma=statistics.median(a); mb=statistics.median(b)
  print(f"{k:28s} ours {ma:8.1f}  ort {mb:8.1f}  ratio {ma/mb if mb else float('nan'):5.2f}   ours {[round(x) for x in a]} ort {[round(x) for x in b]}")
