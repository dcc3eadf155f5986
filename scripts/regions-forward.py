# The regions phase of `trainer` read back by the PyTorch replica (../shared/experiments/grounding-pytorch):
# held-out loss and per-attribute accuracy of a checkpoint written inside the phase (it holds the heads).
#   python3 scripts/regions-forward.py Checkpoints/vision/step-000200.h5
import os, sys, json, h5py, numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/experiments/grounding-pytorch"))
from common import make_vpm
from PIL import Image
ck = sys.argv[1]
f = h5py.File(ck)
vpm = make_vpm().eval()
sd = {k[4:]: torch.tensor(np.array(f["model"][k])) for k in f["model"] if k.startswith("vpm.")}
missing = vpm.load_state_dict(sd, strict=False); print(missing)
heads = {}
for a in ["background", "color", "occupied", "shape", "size"]:
    heads[a] = (torch.tensor(np.array(f[f"objective/regions.{a}.weight"])), torch.tensor(np.array(f[f"objective/regions.{a}.bias"])))
recs = [json.loads(l) for l in open("Data/world/regions-heldout.jsonl")]
train = [json.loads(l) for l in open("Data/world/regions.jsonl")]
classes = {a: sorted({x for r in train for x in r["labels"][a] if x is not None}) for a in heads}
band = [0] * 5 + [1] * 6 + [2] * 5
cell_of = torch.tensor([band[r] * 3 + band[c] for r in range(16) for c in range(16)])
A = torch.zeros(9, 256); A[cell_of, torch.arange(256)] = 1; A = A / A.sum(1, keepdim=True)
right = {a: 0 for a in heads}; total = {a: 0 for a in heads}; losses = []
with torch.no_grad():
    for s in range(0, len(recs), 32):
        rs = recs[s:s + 32]
        pix = torch.stack([torch.from_numpy(np.asarray(Image.open("Data/world/" + r["image"]).convert("RGB"))).permute(2, 0, 1) for r in rs]).float() / 127.5 - 1
        feat = torch.einsum("cp,npd->ncd", A, vpm(pix).last_hidden_state).reshape(-1, 192)
        L = 0
        for a, (w, b) in heads.items():
            y = torch.tensor([classes[a].index(x) if x is not None else -100 for r in rs for x in r["labels"][a]])
            lg = feat @ w.T + b
            L = L + F.cross_entropy(lg, y, ignore_index=-100)
            mk = y >= 0; right[a] += (lg.argmax(-1)[mk] == y[mk]).sum().item(); total[a] += mk.sum().item()
        losses.append(L.item())
print("loss", np.mean(losses), {a: round(right[a] / total[a], 3) for a in heads})
