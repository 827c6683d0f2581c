import { preactPages } from '../../vite.pages.js';

/**
 * The pages a gateway serves to its terminals: the librarian's desk and the computer room's kiosk.
 * Built into gateway/dist/pages, which the gateway's page server serves beside the broker's
 * WebSocket (/mqtt), so a page talks to the gateway on its own origin.
 */
export default preactPages(import.meta.url, { desk: 'desk.html', kiosk: 'kiosk.html' });
