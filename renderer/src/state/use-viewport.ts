// The scroll position and height of a scrolling box, for lists that draw
// only the rows in view (the fleet table and the cluster tree).
import { useLayoutEffect, useRef, useState } from "react";

/** `initialHeight` stands in where there is no layout (server rendering in tests). */
export function useViewport(initialHeight = 600) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(initialHeight);
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);
  return { scroller, scrollTop, setScrollTop, height };
}
