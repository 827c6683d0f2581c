import { preactPages } from '../../vite.pages.js';

/**
 * The bridge's pages for the district office, school admins, head teachers and operators. Built into
 * cloud-bridge/dist/pages, which the bridge serves on its own HTTP origin beside the API, so the session
 * cookie is first-party and no CORS is needed.
 */
export default preactPages(import.meta.url, { index: 'index.html' });
