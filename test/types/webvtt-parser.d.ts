/** Types for the parts of `webvtt-parser` (w3c/webvtt.js, no bundled types) the caption tests use. */
declare module "webvtt-parser" {
  export interface WebVTTNode {
    type: "text" | "object" | "timestamp";
    name?: string;
    value?: string | number;
    children?: WebVTTNode[];
  }
  export interface WebVTTCue {
    id: string;
    startTime: number;
    endTime: number;
    text: string;
    tree: { children: WebVTTNode[] };
  }
  export interface WebVTTParseResult {
    cues: WebVTTCue[];
    errors: { message: string; line: number; col: number }[];
  }
  export class WebVTTParser {
    constructor(entities?: Record<string, string>);
    parse(input: string, mode?: "metadata" | "chapters"): WebVTTParseResult;
  }
}
