/**
 * The HTTP side of the App (plain requests next to the WebSockets): what the
 * rest of lib/ and the package entry point use. Each concept has its own file
 * in this folder.
 */
export * from './handler';
