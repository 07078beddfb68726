// A modal on the native <dialog>: the browser traps focus, Esc closes it,
// and the rest of the page becomes inert for assistive technology.
import { useEffect, useId, useRef, type ReactNode } from "react";

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
      <div className="dialog-body">{props.children}</div>
      {props.footer ? <footer className="dialog-foot">{props.footer}</footer> : null}
    </dialog>
  );
}
