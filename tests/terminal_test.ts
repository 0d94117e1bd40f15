import { assertEquals } from "@std/assert";
import { barText } from "../data/_terminal.ts";
import { progressBar } from "../train/progress.ts";

Deno.test("one bar for every progress line: training epochs draw the same bar as downloads", () => {
  assertEquals(barText(0, 4), "    ");
  assertEquals(barText(0.5, 10), "====>     ");
  assertEquals(barText(1, 4), "====");
  assertEquals(barText(7, 3), "===");
  const lines: string[] = [];
  const p = progressBar({
    epochs: 1,
    steps: 4,
    batchSize: 1,
    tty: true,
    width: 10,
    write: (s) => lines.push(s),
    now: () => 0,
  });
  p.startEpoch(1);
  p.update(2, 0.5);
  assertEquals(lines[0].includes(`[${barText(0.5, 10)}]`), true, lines[0]);
});
