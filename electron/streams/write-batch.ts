// Lines issued in one tick (a pipelined batch of QMP commands, a chain of
// node-helper requests) leave in one write: one SSH packet and one wake-up
// of the reader on the far side instead of one per line.
export class WriteBatch {
  private text = "";

  /** `flush` gets everything added since the last flush, once per tick. */
  constructor(private readonly flush: (text: string) => void) {}

  get empty(): boolean {
    return this.text === "";
  }

  add(line: string): void {
    const first = this.empty;
    this.text += line;
    if (!first) return;
    queueMicrotask(() => {
      const text = this.text;
      this.text = "";
      this.flush(text);
    });
  }
}
