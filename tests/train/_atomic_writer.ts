// Helper process for checkpoint_test.ts: rewrites one file atomically, forever,
// with 16 MB safetensors payloads whose every value is the iteration number.
import { writeFileAtomic } from "../../lib/train/atomic_write.ts";
import { writeSafetensors } from "../../lib/io/safetensors.ts";

const path = Deno.args[0];
for (let i = 1;; i++) {
  const data = new Float32Array(4 * 1024 * 1024).fill(i);
  await writeFileAtomic(
    path,
    writeSafetensors(new Map([["x", { dtype: "F32", shape: [data.length], data }]]), {
      i: String(i),
    }),
  );
  console.log(i);
}
