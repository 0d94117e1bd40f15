// A consumer of the package with Deno's default compiler options (no "lib", no "dom"): it must
// type-check as a JSR user's project would. tests/package_test.ts runs `deno check` on it.
import { grad, init, jit, lax, np, random, type Tensor, tree } from "@denax/denax";
import * as nn from "@denax/denax/nn";
import * as optim from "@denax/denax/optim";
import { scan } from "@denax/denax/lax";
import { key, normal } from "@denax/denax/random";
import { leaves } from "@denax/denax/tree";
import * as models from "@denax/denax/models";
import { twoMoons } from "@denax/denax/data";
import { fit, load, save } from "@denax/denax/train";

await init({ backend: "cpu" });
const net = nn.sequential([nn.linear({ inFeatures: 2, outFeatures: 4 }), nn.relu]);
const params = net.init(random.key(0));
const loss = (p: typeof params, x: Tensor): Tensor => net.apply(p, x).sum();
const g = jit(grad(loss))(params, normal(key(1), [3, 2]));
const opt = optim.adam({ lr: 0.1 });
const [carry] = scan((c: Tensor, x: Tensor) => [c.add(x), c], np.zeros([2]), np.ones([3, 2]));
console.log(leaves(g).length, opt.init(params), carry, lax.stopGradient(carry), tree.leaves(g));
console.log(Object.keys(models), twoMoons, fit, load, save);
