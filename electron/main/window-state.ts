// The window's size, position and maximized state, kept between runs in the
// app's data dir. A corrupt or off-screen state falls back to defaults.
import { readFile, writeFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

export const WindowStateSchema = z.object({
  x: z.number().int().optional(),
  y: z.number().int().optional(),
  width: z.number().int().min(640).max(10_000),
  height: z.number().int().min(480).max(10_000),
  maximized: z.boolean(),
});
export type WindowState = z.infer<typeof WindowStateSchema>;

export const DEFAULT_WINDOW_STATE: WindowState = { width: 1280, height: 800, maximized: false };

export async function loadWindowState(dataDir: string): Promise<WindowState> {
  try {
    return WindowStateSchema.parse(JSON.parse(await readFile(join(dataDir, "window-state.json"), "utf8")));
  } catch {
    return DEFAULT_WINDOW_STATE;
  }
}

export async function saveWindowState(dataDir: string, state: WindowState): Promise<void> {
  const file = join(dataDir, "window-state.json");
  await writeFile(`${file}.tmp`, JSON.stringify(WindowStateSchema.parse(state)), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/** Keep a saved position only if it is still on one of the screens. */
export function onScreen(state: WindowState, displays: { x: number; y: number; width: number; height: number }[]): WindowState {
  if (state.x === undefined || state.y === undefined) return state;
  const visible = displays.some((d) => state.x! < d.x + d.width - 100 && state.x! + state.width > d.x + 100 && state.y! >= d.y - 20 && state.y! < d.y + d.height - 100);
  return visible ? state : { width: state.width, height: state.height, maximized: state.maximized };
}
