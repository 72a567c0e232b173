import { type FakeResponse, HttpFake } from "./http-fake.ts";

/**
 * A loopback stand-in for Bitrix24's frame library (`//api.bitrix24.com/api/v1/`, the `BX24` global),
 * which the test machine cannot reach. It has only what our pages call, with the documented signatures
 * (bitrix-tools/b24-rest-docs):
 * - `BX24.init(callback)` runs the callback once the library is ready
 *   (sdk/bx24-js-sdk/system-functions/bx24-init.md);
 * - `BX24.fitWindow(callback?)` asks the portal to size the frame to the page, returns nothing
 *   (sdk/bx24-js-sdk/additional-functions/bx24-fit-window.md);
 * - `BX24.placement.info()` returns `{placement, options}` at once
 *   (api-reference/widgets/ui-interaction/bx24-placement-info.md);
 * - `BX24.placement.call(command, parameters, callback)`
 *   (api-reference/widgets/ui-interaction/bx24-placement-call.md).
 * Every call is recorded in `window.__bx24Calls`, where a test reads what the page asked of the portal.
 * The real library learns the placement from the parent frame; this one reads the `PLACEMENT` and
 * `PLACEMENT_OPTIONS` that the page received in its frame POST, given in `window.__bx24Placement`.
 */
const STAND_IN = `(function(){
var calls=window.__bx24Calls=[];
var rec=function(name,args){calls.push({name:name,args:JSON.parse(JSON.stringify(args||[]))})};
window.BX24={
init:function(cb){rec("init");setTimeout(cb,0)},
fitWindow:function(cb){rec("fitWindow");if(cb)setTimeout(cb,0)},
placement:{
info:function(){rec("placement.info");return window.__bx24Placement||{placement:"DEFAULT",options:{}}},
call:function(command,parameters,cb){rec("placement.call",[command,parameters]);if(cb)setTimeout(function(){cb(true)},0)}
}};})();`;

export class Bx24FrameFake extends HttpFake {
  /** The URL our pages load as `BITRIX_FRAME_SCRIPT_URL`. */
  get scriptUrl(): string {
    return `${this.url}/api/v1/`;
  }

  protected override async handle(): Promise<FakeResponse> {
    return { status: 200, body: STAND_IN, headers: { "content-type": "application/javascript" } };
  }
}

export async function startBx24FrameFake(): Promise<Bx24FrameFake> {
  return new Bx24FrameFake().listen();
}
