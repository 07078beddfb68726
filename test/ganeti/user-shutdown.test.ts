// A guest that powers itself off is a user shutdown to Ganeti: its kvmd
// sees QEMU's SHUTDOWN event on the .kvmd socket and leaves the .shutdown
// marker, Ganeti reports USER_down, and our inventory shows "user-shutdown".
// kvmd connects only when the socket appears, before QEMU listens, and never
// retries: the lab re-links the socket after each start so it connects
// (rearmKvmd). The app itself never relies on kvmd watching.
import { afterAll, beforeAll, expect, it } from "vitest";
import { addInstance, kvmPaths } from "../../electron/lab/ganeti/cluster.js";
import type { NodeSession } from "../../electron/ssh/session.js";
import { loadInstanceView } from "../../electron/inventory/node-inventory.js";
import { describeGaneti, gntOut, guestCommand, labNodeInfo, openNode } from "./ganeti-fixture.js";

const NAME = "shutdown1";

describeGaneti("a guest powering itself off", (lab) => {
  let session: NodeSession;
  beforeAll(async () => {
    await addInstance({ name: NAME, node: 1, template: "diskless", nics: 1 });
    session = await openNode(labNodeInfo("node1"));
  });
  afterAll(async () => {
    session?.close();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
  });

  const status = async () => (await gntOut("gnt-instance", "list", "--no-headers", "-o", "status", NAME)).trim();
  const view = () => loadInstanceView(session, NAME, { nodeId: "ganeti", root: "/", ganetiVersion: lab.ganetiVersion });

  it("is a user shutdown to Ganeti's kvmd and to our inventory", async () => {
    expect(await status()).toBe("running");
    expect((await view()).state).toBe("running");
    await guestCommand(session, NAME, "poweroff");
    await expect.poll(status, { timeout: 60_000, interval: 1_000 }).toBe("USER_down");
    // kvmd's marker is on the node, where our inventory reads it.
    const sftp = await session.sftp();
    const marker = await new Promise<boolean>((resolve) => sftp.stat(kvmPaths(NAME).shutdown, (err) => resolve(!err)));
    sftp.end();
    expect(marker).toBe(true);
    const v = await view();
    expect(v.state).toBe("user-shutdown");
    expect(v.liveChecked).toBe(false);
  });
});
