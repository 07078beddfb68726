// Commands run on a node appear in error messages people read: an inline
// script is named by size, never dumped into the message.
import { describe, it, expect } from "vitest";
import { describeArgv } from "../../electron/on-node/exec";

describe("describeArgv", () => {
  it("keeps short words as they are and quotes the rest", () => {
    expect(describeArgv(["ip", "link", "del", "tap1"])).toBe('"ip link del tap1"');
    expect(describeArgv(["echo", "a b"])).toBe('"echo "a b""');
  });

  it("names an inline script instead of printing it", () => {
    const script = "import os\nimport sys\n" + "x = 1\n".repeat(200);
    const d = describeArgv(["python3", "-c", script, "tap-create", '{"tap":"tap1"}']);
    expect(d).toContain(`<script, ${script.length} chars>`);
    expect(d).not.toContain("import os");
    expect(d).toContain("tap-create");
  });
});
