// Arrow keys during a keyboard drag jump from drop target to drop target
// (slot to slot, onto the Remove zone) instead of dnd-kit's default 25 px
// steps, so a keyboard user reaches slot 0x10 in a few presses.
import type { KeyboardCoordinateGetter } from "@dnd-kit/core";

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export type Direction = "left" | "right" | "up" | "down";

const KEYS: Record<string, Direction> = { ArrowLeft: "left", ArrowRight: "right", ArrowUp: "up", ArrowDown: "down" };

function center(r: Rect): { x: number; y: number } {
  return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
}

/** The target nearest to `from` in a direction, preferring ones in line with it. */
export function nextTarget<K>(from: Rect, targets: Iterable<[K, Rect]>, dir: Direction): K | null {
  const c = center(from);
  let best: K | null = null;
  let bestScore = Infinity;
  for (const [key, rect] of targets) {
    const t = center(rect);
    const dx = t.x - c.x;
    const dy = t.y - c.y;
    const along = dir === "right" ? dx : dir === "left" ? -dx : dir === "down" ? dy : -dy;
    const across = dir === "right" || dir === "left" ? Math.abs(dy) : Math.abs(dx);
    // Ignore targets behind us or level with us (within a few pixels).
    if (along < 4) continue;
    const score = along + across * 3;
    if (score < bestScore) {
      bestScore = score;
      best = key;
    }
  }
  return best;
}

export const slotKeyboardCoordinates: KeyboardCoordinateGetter = (event, { context }) => {
  const dir = KEYS[event.code];
  const from = context.collisionRect;
  if (!dir || !from) return undefined;
  event.preventDefault();
  const enabled: [string, Rect][] = [];
  for (const container of context.droppableContainers.getEnabled()) {
    const rect = context.droppableRects.get(container.id);
    if (rect) enabled.push([String(container.id), rect]);
  }
  const id = nextTarget(from, enabled, dir);
  if (id === null) return undefined;
  const rect = context.droppableRects.get(id);
  if (!rect) return undefined;
  const t = center(rect);
  // Coordinates are the dragged rect's top-left: put its centre on the target's.
  return { x: t.x - from.width / 2, y: t.y - from.height / 2 };
};
