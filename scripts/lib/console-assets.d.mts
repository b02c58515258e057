/** Types of console-assets.mjs for the tests that import it. */
export declare const BROWSER_DIR: string;
export declare const GENERATED_FILE: string;
export declare function buildConsoleAssets(): Promise<string>;
