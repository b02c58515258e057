/**
 * A JSON data island: `<script type="application/json" id>` holding a value for the page's browser modules. Browsers
 * never execute it, so the CSP's `script-src 'self'` holds. Its text is raw (HTML entities would corrupt the JSON), so
 * everything that could end the element or open a comment is written as a JSON escape: `<`, `>`, `&`, and the line
 * separators U+2028/U+2029. `JSON.parse` restores them.
 */
export function islandJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

export function DataIsland(props: { id: string; value: unknown }) {
  return <script type="application/json" id={props.id} dangerouslySetInnerHTML={{ __html: islandJson(props.value) }} />;
}
