// A modal on the native <dialog>: the browser traps focus, Esc closes it,
// and the rest of the page becomes inert for assistive technology.
import { useEffect, useId, useLayoutEffect, useRef, useState, type ReactNode, type RefObject } from "react";

/**
 * Whether the element's content overflows it: a body that scrolls must be
 * reachable with the keyboard (Tab to it, then the arrow keys scroll it).
 * Measured after every render of the dialog and whenever its size changes.
 */
function useOverflows(ref: RefObject<HTMLElement | null>): boolean {
  const [overflows, setOverflows] = useState(false);
  const measure = () => {
    const el = ref.current;
    if (el) setOverflows(el.scrollHeight > el.clientHeight);
  };
  useLayoutEffect(measure);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return overflows;
}

export function Dialog(props: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
  /** Esc and the close button do nothing while false (e.g. an operation is running). */
  closable?: boolean;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const body = useRef<HTMLDivElement>(null);
  const scrolls = useOverflows(body);
  const closable = props.closable ?? true;
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);

  return (
    <dialog
      ref={ref}
      className={props.wide ? "dialog wide" : "dialog"}
      aria-labelledby={titleId}
      data-testid={props.testId}
      onCancel={(e) => {
        e.preventDefault();
        if (closable) onClose.current();
      }}
    >
      <header className="dialog-head">
        <h2 id={titleId}>{props.title}</h2>
        <button type="button" className="icon-button" aria-label="Close dialog" disabled={!closable} onClick={() => onClose.current()}>
          ×
        </button>
      </header>
      <div ref={body} className="dialog-body" {...(scrolls ? { tabIndex: 0, role: "region", "aria-labelledby": titleId } : {})}>
        {props.children}
      </div>
      {props.footer ? <footer className="dialog-foot">{props.footer}</footer> : null}
    </dialog>
  );
}
