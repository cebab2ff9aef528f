// A terminal's screen, rendered from what a program wrote to it: enough of a terminal to see glued lines.

/** What a terminal shows for `text`: `\r` returns to the line's start, `ESC [K` erases from the cursor on. */
export function renderTerminal(text: string): string[] {
  const screen: string[] = [];
  for (const raw of text.split("\n")) {
    let line = "";
    let cursor = 0;
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] === "\r") cursor = 0;
      else if (raw.startsWith("\x1b[K", i)) {
        line = line.slice(0, cursor);
        i += 2;
      } else {
        line = line.slice(0, cursor) + raw[i] + line.slice(cursor + 1);
        cursor++;
      }
    }
    screen.push(line);
  }
  return screen;
}
