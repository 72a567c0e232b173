import { App } from "aws-cdk-lib";
import { buildApp, optionsFromContext } from "./build-app.ts";

const app = new App();
buildApp(app, optionsFromContext(app));
app.synth();
