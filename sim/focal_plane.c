/* sim/focal_plane.c: Euclid VIS focal-plane tables and the per-detector WCS (see focal_plane.h).
 *
 * Tables (facts about the instrument, encoded here so that nothing is read at run time):
 *   - CCD centres in field angle (uc, vc) [deg]: GalSim-Euclid-Like `euclidlike/data/ccd_data.dat`
 *     (BSD licence; derived from Scaramella et al. 2022, A&A 662, A112, Fig. 2 and Table 1).
 *   - Per-CCD CD matrix and TPV coefficients PV1_0..10, PV2_0..10, fitted to the Euclid Early
 *     Release Observations: GalSim-Euclid-Like `euclidlike/data/pv_coeffs.dat`, the version before
 *     its 2025-06 commit that zeroed the distortion. Columns are the detector index DET 0..35, and
 *     DET -> CCD id is 0,1,2 = 1-1,1-2,1-3; 3..5 = 2-1..2-3; ... 15..17 = 6-1..6-3;
 *     18,19,20 = 1-6,1-5,1-4; ... 33,34,35 = 6-6,6-5,6-4 (GalSim-Euclid-Like instrument_params).
 *
 * Geometry. The tabulated CD maps the GalSim frame's pixel x (the 4132-px axis, along v) onto
 * North and its pixel y (the 4096-px axis, along -u) onto East. This project's frame has x along
 * +u (West at PA 0) and y along +v (North), so that NAXIS1 = 4096 and NAXIS2 = 4132 as in the real
 * files: the same detector with its pixel axes renamed, p_galsim = P p, P = [[0, 1], [-1, 0]], so
 * CD_table P = [[-CD1_2, CD1_1], [-CD2_2, CD2_1]] (the u scale stays CD1_2's, the v scale CD2_1's,
 * and the TPV polynomial, which acts on sky coordinates, is unchanged). For a focal-plane position
 * angle PA the whole focal plane, distortion included, turns rigidly on the sky about the pointing:
 *   - the CCD centre (u, v) turns by PA in the pointing's tangent plane (as GalSim-Euclid-Like
 *     does), xi = -u', eta = v', and CRVAL is its gnomonic deprojection;
 *   - at CRVAL, the focal plane's +v axis has position angle theta (PA plus the meridian
 *     convergence between the pointing and the CCD): the bearing at CRVAL of the great circle
 *     that the tangent-plane line through the CCD centre along +v maps onto (exact: gnomonic
 *     projection maps great circles to lines);
 *   - with M = R(theta) = [[cos, sin], [-sin, cos]] (North -> PA theta):
 *     CD = M CD_table P, and the TPV polynomial f (w -> w + g(w), w = (xi, eta) [deg]) becomes
 *     f'(w) = M f(M^-1 w), computed exactly by polynomial algebra (f is a cubic).
 * GalSim-Euclid-Like rotates only CD and keeps the PVs fixed on the sky; turning the polynomial too
 * keeps the distortion attached to the detector, so a dither or a different PA moves the sky, not
 * the optics. Under this construction, pairwise separations of pixels do not depend on PA (tested).
 *
 * SIP. Pixel offsets q = p - CRPIX; TPV gives sky = TAN^-1(f'(CD q)); SIP gives
 * TAN^-1(CD (q + (A(q), B(q)))). So (A, B) = CD^-1 f'(CD q) - q exactly: a cubic in q (orders 2
 * and 3, the linear part being the identity). The inverse AP, BP (order 4, all terms) is a least
 * squares fit on a grid covering the detector plus a margin; its largest error is kept in
 * ap_max_err_px (of order 1e-4 px for these coefficients).
 */
#include "sim/focal_plane.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"
#include "sim/sky.h"

/* ---- tables ---------------------------------------------------------------------------------- */

/* { id, DET, uc, vc, {CD1_1, CD1_2, CD2_1, CD2_2}, {PV1_0..10}, {PV2_0..10} }, in DET order. */
static const sso_fp_ccd g_ccds[SSO_FP_N_CCD] = {
    {"1-1", 0, -0.2929861111111111, 0.3318055555555555,
     {-6.01e-08, 2.79485e-05, 2.78839e-05, -6.01e-08},
     {0, 1.0, -0.0, 0.0, -0.0050906927, 0.0064700496, -0.0019240439, 0.0688609069, -0.0271791602, -0.0085808593, -0.0058379173},
     {0, 1.0, 0.0, 0.0, 0.0101107952, -0.0039938027, 0.0031854851, -0.0054344703, -0.0030023736, -0.0026020066, -0.0079602364}},
    {"1-2", 1, -0.17579166666666668, 0.3318055555555555,
     {-6.99e-08, 2.79256e-05, 2.78084e-05, -6.99e-08},
     {0, 1.0, 0.0, 0.0, -0.0052407447, 0.0083956268, -0.0021779789, 0.0817686818, -0.0135032061, -0.0033986126, 0.0008829892},
     {0, 1.0, 0.0, 0.0, 0.0125583182, -0.0041086322, 0.0040452144, -0.0027879344, -0.0012951342, -0.0038176039, -0.005433229}},
    {"1-3", 2, -0.058597222222222224, 0.3318055555555555,
     {-7.98e-08, 2.78984e-05, 2.77184e-05, -7.98e-08},
     {0, 1.0, 0.0, 0.0, -0.0056698787, 0.0102121264, -0.0017697099, 0.066189825, -0.0222407784, -0.0018337393, 0.0013769591},
     {0, 1.0, -0.0, 0.0, 0.0147412915, -0.0034711557, 0.0051080234, -0.0090712765, 0.0021113861, -0.0030314529, -0.0036204385}},
    {"2-1", 3, -0.2929861111111111, 0.19908333333333333,
     {-3.28e-08, 2.79849e-05, 2.79002e-05, -3.28e-08},
     {0, 1.0, 0.0, 0.0, -0.003034371, 0.0071120724, -0.0010450165, 0.0746312047, -0.0144887662, -0.0028082242, -0.0070339563},
     {0, 1.0, -0.0, 0.0, 0.0106951277, -0.0023391098, 0.0032812551, -0.003892422, -0.0013962396, 0.0018097501, -0.0044783691}},
    {"2-2", 4, -0.17579166666666668, 0.19908333333333333,
     {-3.66e-08, 2.79613e-05, 2.7824e-05, -3.66e-08},
     {0, 1.0, -0.0, 0.0, -0.0030525831, 0.008981587, -0.0010341374, 0.0715371594, -0.008015049, -0.0065244394, -0.0071631463},
     {0, 1.0, -0.0, 0.0, 0.0128725198, -0.0023818001, 0.0042215051, -0.0045914039, 0.0107589634, -0.0066071609, -0.0008946005}},
    {"2-3", 5, -0.058597222222222224, 0.19908333333333333,
     {-4.11e-08, 2.7933e-05, 2.77354e-05, -4.11e-08},
     {0, 1.0, -0.0, 0.0, -0.0037065407, 0.0100520206, -0.0010742739, 0.0611447597, -0.0272200323, -0.0009365135, 0.0078361121},
     {0, 1.0, -0.0, 0.0, 0.0145180047, -0.0021104315, 0.0047841937, -0.0034168968, 0.005238114, -0.0131950253, -0.0032851903}},
    {"3-1", 6, -0.2929861111111111, 0.0663611111111111,
     {-5.6e-09, 2.80024e-05, 2.79124e-05, -5.6e-09},
     {0, 1.0, -0.0, 0.0, -0.0001775022, 0.0070328428, 2.67267e-05, 0.0640936713, -0.0155618732, -0.01174775, 0.0012970417},
     {0, 1.0, 0.0, 0.0, 0.0101813095, -0.000609858, 0.0032971595, -0.0138981579, 0.0004829642, -0.0024329005, -0.0080319563}},
    {"3-2", 7, -0.17579166666666668, 0.0663611111111111,
     {-4.4e-09, 2.79757e-05, 2.78361e-05, -4.4e-09},
     {0, 1.0, 0.0, 0.0, -0.0003378803, 0.0082693736, -0.0002159851, 0.0741618009, -0.0165269551, 0.0039532408, 0.0042958123},
     {0, 1.0, 0.0, 0.0, 0.0119452554, -4.34283e-05, 0.0039537202, -0.0067706787, -0.0013241077, 0.0025717516, -0.0079734709}},
    {"3-3", 8, -0.058597222222222224, 0.0663611111111111,
     {-2.7e-09, 2.79463e-05, 2.77478e-05, -2.7e-09},
     {0, 1.0, 0.0, 0.0, -0.0006839946, 0.010151384, -0.000167375, 0.0732965322, -0.0195468652, 0.0028250758, 0.0018175049},
     {0, 1.0, -0.0, 0.0, 0.0147127253, -0.0003034205, 0.0049554052, -0.0036374398, 0.0043840037, -0.0111730905, -0.0037781794}},
    {"4-1", 9, -0.2929861111111111, -0.0663611111111111,
     {1.94e-08, 2.79973e-05, 2.79162e-05, 1.94e-08},
     {0, 1.0, -0.0, 0.0, 0.0022902943, 0.0065158462, 0.0003473515, 0.0758111335, -0.019077209, 0.0010991373, -0.0071661605},
     {0, 1.0, 0.0, 0.0, 0.0099310509, 0.0014582063, 0.0032561746, -0.0092138212, -0.0045167491, -0.0116376567, -0.0082544508}},
    {"4-2", 10, -0.17579166666666668, -0.0663611111111111,
     {2.6e-08, 2.79722e-05, 2.78428e-05, 2.6e-08},
     {0, 1.0, 0.0, 0.0, 0.0022512787, 0.0081875665, 0.0006489479, 0.0721532096, -0.0257283432, -0.0033897466, -0.0028658195},
     {0, 1.0, -0.0, 0.0, 0.0117083034, 0.0013411282, 0.0041776467, -0.0125031731, -0.0062881664, -0.0099185241, -0.0144023377}},
    {"4-3", 11, -0.058597222222222224, -0.0663611111111111,
     {3.41e-08, 2.79411e-05, 2.77546e-05, 3.41e-08},
     {0, 1.0, -0.0, 0.0, 0.0028792996, 0.009607714, 0.0006654699, 0.0724882694, -0.0261733387, -0.0021574912, -0.0047179579},
     {0, 1.0, -0.0, 0.0, 0.0144672587, 0.0017704129, 0.0047731166, -0.0032108757, 0.0002809689, -0.0097907683, -0.0072994074}},
    {"5-1", 12, -0.2929861111111111, -0.19908333333333333,
     {4.41e-08, 2.79743e-05, 2.79144e-05, 4.41e-08},
     {0, 1.0, -0.0, 0.0, 0.0047811479, 0.0068194437, 0.0017679609, 0.0712066259, -0.0201279769, -0.0069955926, -0.0035479236},
     {0, 1.0, 0.0, 0.0, 0.0099462629, 0.0033987144, 0.0031395804, -0.0044653428, 0.0005040669, -0.0008320072, -0.0065497603}},
    {"5-2", 13, -0.17579166666666668, -0.19908333333333333,
     {5.65e-08, 2.79468e-05, 2.78418e-05, 5.65e-08},
     {0, 1.0, -0.0, 0.0, 0.0049898367, 0.0081717861, 0.0014711531, 0.07472553, -0.0201785027, -0.008781802, -0.0086841052},
     {0, 1.0, 0.0, 0.0, 0.0120466096, 0.0032535243, 0.0036881121, 0.000640502, -0.001608984, 0.0019003424, -0.0065763}},
    {"5-3", 14, -0.058597222222222224, -0.19908333333333333,
     {7e-08, 2.79152e-05, 2.77561e-05, 7e-08},
     {0, 1.0, 0.0, 0.0, 0.0051844189, 0.0095908657, 0.0016976149, 0.0689029475, -0.0317027353, -0.0010986677, -0.0039497876},
     {0, 1.0, 0.0, 0.0, 0.0142576338, 0.0035825705, 0.0045473031, -0.0099303497, -0.000184788, -0.0109556565, -0.00748997}},
    {"6-1", 15, -0.2929861111111111, -0.3318055555555555,
     {6.64e-08, 2.79306e-05, 2.79072e-05, 6.64e-08},
     {0, 1.0, -0.0, 0.0, 0.0076726827, 0.0060214281, 0.0020945316, 0.0731414396, -0.0291733941, 0.0024518291, 0.0075877478},
     {0, 1.0, -0.0, 0.0, 0.0093254177, 0.0047452614, 0.0028804942, -0.0041118933, -0.0010128702, -0.0046639709, -0.0093530821}},
    {"6-2", 16, -0.17579166666666668, -0.3318055555555555,
     {8.48e-08, 2.79028e-05, 2.78364e-05, 8.48e-08},
     {0, 1.0, 0.0, 0.0, 0.0076615639, 0.0081470822, 0.0023741396, 0.0736971128, -0.0255211485, 0.0024197793, 0.0077380702},
     {0, 1.0, -0.0, 0.0, 0.0115296982, 0.0053128465, 0.0037576277, -0.004110839, -0.0033837157, 0.0060074407, -0.010588389}},
    {"6-3", 17, -0.058597222222222224, -0.3318055555555555,
     {1.037e-07, 2.78697e-05, 2.77518e-05, 1.037e-07},
     {0, 1.0, 0.0, 0.0, 0.0080583278, 0.0092499847, 0.0023460012, 0.0729882709, -0.0241143507, -0.0049278982, -0.009872514},
     {0, 1.0, 0.0, 0.0, 0.0142682849, 0.0052446823, 0.0044457481, -0.0035922169, 2.27092e-05, -0.0112209146, -0.0091052155}},
    {"1-6", 18, 0.2929861111111111, 0.3318055555555555,
     {-1.021e-07, 2.77843e-05, 2.73682e-05, -1.021e-07},
     {0, 1.0, -0.0, 0.0, -0.0052503778, 0.014934578, -0.0016856335, 0.0862860724, -0.0128194877, -0.0034623032, 0.0070366037},
     {0, 1.0, 0.0, 0.0, 0.0215361971, -0.0037271408, 0.0067519666, -0.0100165241, 0.0029917069, -0.0120743008, -0.0016807177}},
    {"1-5", 19, 0.17579166666666668, 0.3318055555555555,
     {-9.53e-08, 2.78274e-05, 2.74982e-05, -9.53e-08},
     {0, 1.0, -0.0, 0.0, -0.0050623034, 0.0133085335, -0.0016423419, 0.0724497935, -0.0057090146, -0.0050256636, 0.0029554327},
     {0, 1.0, -0.0, 0.0, 0.0190614942, -0.0034540183, 0.0062691225, -0.006749172, 0.0056983774, -0.0148008475, -0.0051148991}},
    {"1-4", 20, 0.058597222222222224, 0.3318055555555555,
     {-8.93e-08, 2.7865e-05, 2.76142e-05, -8.93e-08},
     {0, 1.0, 0.0, 0.0, -0.0055191292, 0.011505582, -0.0016970217, 0.0726158513, -0.029425944, -0.0029342761, -0.0164909415},
     {0, 1.0, -0.0, 0.0, 0.0171968508, -0.0035274602, 0.0056995662, -8.98788e-05, -0.0026785454, 0.0049347178, -0.011502149}},
    {"2-6", 21, 0.2929861111111111, 0.19908333333333333,
     {-4.7e-08, 2.7817e-05, 2.73875e-05, -4.7e-08},
     {0, 1.0, 0.0, 0.0, -0.0022123806, 0.0147852706, -0.00043461, 0.0693245632, -0.0348091248, -0.000656612, -0.0033239079},
     {0, 1.0, 0.0, 0.0, 0.0213339226, -0.0016873505, 0.0073423881, -0.014535107, 0.000171023, -0.0174370683, -0.0054242167}},
    {"2-5", 22, 0.17579166666666668, 0.19908333333333333,
     {-4.49e-08, 2.78603e-05, 2.75172e-05, -4.49e-08},
     {0, 1.0, -0.0, 0.0, -0.0022730521, 0.0129340135, -0.0005672323, 0.0650125247, 0.0008229773, -0.0054333403, 0.0065786071},
     {0, 1.0, 0.0, 0.0, 0.0190746293, -0.0012666262, 0.0064067086, -0.0096173997, 0.0032350065, -0.0202605164, -0.0019388885}},
    {"2-4", 23, 0.058597222222222224, 0.19908333333333333,
     {-4.41e-08, 2.78982e-05, 2.76316e-05, -4.41e-08},
     {0, 1.0, -0.0, 0.0, -0.0024404199, 0.0113840655, -0.0008752695, 0.0777427807, -0.0304888989, -0.0031269028, -0.0076601867},
     {0, 1.0, -0.0, 0.0, 0.016965686, -0.0014059831, 0.005552582, -0.0007376403, 0.0006554163, 0.0010431719, -0.0006323277}},
    {"3-6", 24, 0.2929861111111111, 0.0663611111111111,
     {8.4e-09, 2.78278e-05, 2.74018e-05, 8.4e-09},
     {0, 1.0, 0.0, 0.0, 0.0006285797, 0.0143502157, 0.0001005878, 0.0696927852, -0.0204758214, 0.002228862, -0.0039802326},
     {0, 1.0, -0.0, 0.0, 0.0207722907, 0.000423837, 0.0067390662, -0.0067728984, 0.0005747535, -0.0133362654, -0.0059119449}},
    {"3-5", 25, 0.17579166666666668, 0.0663611111111111,
     {3.3e-09, 2.78723e-05, 2.75287e-05, 3.3e-09},
     {0, 1.0, 0.0, 0.0, -0.0003766713, 0.0130519538, -3.30481e-05, 0.0685709838, -0.0348752035, -0.0018934026, -0.0038954679},
     {0, 1.0, -0.0, 0.0, 0.0192858983, 0.0004285309, 0.0061438706, 0.0009110208, -0.0073356559, 0.0090868404, -0.0063908638}},
    {"3-4", 26, 0.058597222222222224, 0.0663611111111111,
     {5e-10, 2.79124e-05, 2.76449e-05, 5e-10},
     {0, 1.0, 0.0, 0.0, -0.0002838531, 0.0113092466, 8.12471e-05, 0.0696009733, -0.0262627895, -0.0077737729, 0.0032756062},
     {0, 1.0, 0.0, 0.0, 0.0164847484, 5.4411e-05, 0.0053918254, -0.0049837612, 0.0064676906, 0.0027390896, -0.0028576565}},
    {"4-6", 27, 0.2929861111111111, -0.0663611111111111,
     {6.25e-08, 2.78186e-05, 2.74119e-05, 6.25e-08},
     {0, 1.0, 0.0, 0.0, 0.0026124903, 0.0147172051, 0.001034189, 0.0729721163, -0.0256652721, -0.0012892043, 0.0005994292},
     {0, 1.0, 0.0, 0.0, 0.0210302139, 0.0017208821, 0.0071428177, -0.012140275, 0.0013092452, -0.0177384773, -0.0100119626}},
    {"4-5", 28, 0.17579166666666668, -0.0663611111111111,
     {5.31e-08, 2.7864e-05, 2.75384e-05, 5.31e-08},
     {0, 1.0, 0.0, 0.0, 0.0032004209, 0.0127363735, 0.0007733526, 0.0711405229, -0.0238948762, -0.0015384825, -0.0060732869},
     {0, 1.0, 0.0, 0.0, 0.018750122, 0.0019775952, 0.0060702603, -0.0032498903, 0.0058772075, -0.0121420636, -0.0068448614}},
    {"4-4", 29, 0.058597222222222224, -0.0663611111111111,
     {4.3e-08, 2.79047e-05, 2.7653e-05, 4.3e-08},
     {0, 1.0, 0.0, 0.0, 0.0027895396, 0.0113921896, 0.0007552881, 0.0769269718, -0.0156619134, 0.0012797628, -0.0045639853},
     {0, 1.0, 0.0, 0.0, 0.0164668516, 0.0018304548, 0.0052189916, -0.0056777886, -0.0063700294, 0.0005532857, -0.0053857614}},
    {"5-6", 30, 0.2929861111111111, -0.19908333333333333,
     {1.157e-07, 2.77907e-05, 2.74168e-05, 1.157e-07},
     {0, 1.0, -0.0, 0.0, 0.0058971069, 0.0138334615, 0.0016311583, 0.0645086602, -0.0265561106, 0.0021347314, -0.0027686663},
     {0, 1.0, -0.0, 0.0, 0.0207538677, 0.0038577446, 0.0066463639, -0.0047907559, -0.0054869532, 0.0050400628, -0.0089447155}},
    {"5-5", 31, 0.17579166666666668, -0.19908333333333333,
     {9.89e-08, 2.78364e-05, 2.75433e-05, 9.89e-08},
     {0, 1.0, -0.0, 0.0, 0.0059870699, 0.012253449, 0.001758316, 0.0767850012, -0.0353678043, 0.0034693658, -0.0061967039},
     {0, 1.0, -0.0, 0.0, 0.0183971233, 0.0037818668, 0.0058736364, -0.0056470789, 0.0005609137, -0.0143634228, -0.0086666329}},
    {"5-4", 32, 0.058597222222222224, -0.19908333333333333,
     {8.43e-08, 2.78782e-05, 2.76546e-05, 8.43e-08},
     {0, 1.0, -0.0, 0.0, 0.0052070651, 0.0112402661, 0.0015178536, 0.0700936521, -0.025885332, -0.0065931683, -0.01355845},
     {0, 1.0, 0.0, 0.0, 0.0164720382, 0.0034276, 0.0053571561, -0.0051595517, 0.0042240021, -0.0093021693, -0.00965586}},
    {"6-6", 33, 0.2929861111111111, -0.3318055555555555,
     {1.658e-07, 2.77406e-05, 2.74165e-05, 1.658e-07},
     {0, 1.0, -0.0, 0.0, 0.008360919, 0.0137853814, 0.0031078096, 0.0793406957, -0.0169072907, -0.000719384, -0.0127673163},
     {0, 1.0, -0.0, 0.0, 0.0202411736, 0.0056869123, 0.0064725086, -0.0001670705, -0.0023136532, 0.0051976034, -0.0064396179}},
    {"6-5", 34, 0.17579166666666668, -0.3318055555555555,
     {1.446e-07, 2.77881e-05, 2.75414e-05, 1.446e-07},
     {0, 1.0, 0.0, 0.0, 0.0083072588, 0.0125925735, 0.002418871, 0.0770498394, -0.0308351251, 0.0046624859, -0.0043871439},
     {0, 1.0, 0.0, 0.0, 0.0182420768, 0.0051865435, 0.0058498932, -0.0074990764, -0.0021190394, -0.0117408166, -0.0072302677}},
    {"6-4", 35, 0.058597222222222224, -0.3318055555555555,
     {1.238e-07, 2.78307e-05, 2.76529e-05, 1.238e-07},
     {0, 1.0, -0.0, 0.0, 0.0078108445, 0.010908444, 0.002428847, 0.0860548751, -0.0220438851, -0.0071401335, -0.0115310531},
     {0, 1.0, 0.0, 0.0, 0.0157662137, 0.0056418842, 0.0052453046, -0.0019842238, -0.0016395685, -0.0009783435, -0.0095013476}},
};

const sso_fp_ccd *sso_fp_ccd_get(int det)
{
    if (det < 0 || det >= SSO_FP_N_CCD)
        return NULL;
    return &g_ccds[det];
}

int sso_fp_ccd_find(const char *id)
{
    if (!id)
        return -1;
    for (int i = 0; i < SSO_FP_N_CCD; i++)
        if (!strcmp(g_ccds[i].id, id))
            return i;
    return -1;
}

/* ---- bivariate cubic polynomials ------------------------------------------------------------- */

/* c[i][j] is the coefficient of x^i y^j, i + j <= 3. */
typedef struct poly3 {
    double c[4][4];
} poly3;

static poly3 poly3_mul(const poly3 *a, const poly3 *b)
{
    poly3 r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i <= 3; i++)
        for (int j = 0; i + j <= 3; j++) {
            if (a->c[i][j] == 0.0)
                continue;
            for (int k = 0; i + k <= 3; k++)
                for (int l = 0; i + j + k + l <= 3; l++)
                    r.c[i + k][j + l] += a->c[i][j] * b->c[k][l];
        }
    return r;
}

/* q(u, v) = p(m00 u + m01 v, m10 u + m11 v). */
static poly3 poly3_compose_linear(const poly3 *p, double m00, double m01, double m10, double m11)
{
    poly3 xp[4], yp[4], r;
    memset(xp, 0, sizeof xp);
    memset(yp, 0, sizeof yp);
    memset(&r, 0, sizeof r);
    xp[0].c[0][0] = 1.0;
    yp[0].c[0][0] = 1.0;
    poly3 x1, y1;
    memset(&x1, 0, sizeof x1);
    memset(&y1, 0, sizeof y1);
    x1.c[1][0] = m00;
    x1.c[0][1] = m01;
    y1.c[1][0] = m10;
    y1.c[0][1] = m11;
    for (int k = 1; k <= 3; k++) {
        xp[k] = poly3_mul(&xp[k - 1], &x1);
        yp[k] = poly3_mul(&yp[k - 1], &y1);
    }
    for (int i = 0; i <= 3; i++)
        for (int j = 0; i + j <= 3; j++) {
            if (p->c[i][j] == 0.0)
                continue;
            poly3 t = poly3_mul(&xp[i], &yp[j]);
            for (int a = 0; a <= 3; a++)
                for (int b = 0; a + b <= 3; b++)
                    r.c[a][b] += p->c[i][j] * t.c[a][b];
        }
    return r;
}

static poly3 poly3_lincomb(double s, const poly3 *a, double t, const poly3 *b)
{
    poly3 r;
    for (int i = 0; i <= 3; i++)
        for (int j = 0; j <= 3; j++)
            r.c[i][j] = s * a->c[i][j] + t * b->c[i][j];
    return r;
}

static double poly3_eval(const poly3 *p, double x, double y)
{
    double v = 0.0, xi = 1.0;
    for (int i = 0; i <= 3; i++) {
        double yj = 1.0;
        for (int j = 0; i + j <= 3; j++) {
            v += p->c[i][j] * xi * yj;
            yj *= y;
        }
        xi *= x;
    }
    return v;
}

/* TPV index k -> monomial exponents (i of the axis's own coordinate, j of the other). PV1 uses
 * (xi, eta), PV2 uses (eta, xi): the roles swap (the TPV convention). k = 3 is the r term. */
static const int g_tpv_i[11] = {0, 1, 0, -1, 2, 1, 0, 3, 2, 1, 0};
static const int g_tpv_j[11] = {0, 0, 1, -1, 0, 1, 2, 0, 1, 2, 3};

static void tpv_to_poly(const double pv1[11], const double pv2[11], poly3 *f1, poly3 *f2)
{
    memset(f1, 0, sizeof *f1);
    memset(f2, 0, sizeof *f2);
    for (int k = 0; k < 11; k++) {
        if (k == 3)
            continue;
        f1->c[g_tpv_i[k]][g_tpv_j[k]] = pv1[k];
        f2->c[g_tpv_j[k]][g_tpv_i[k]] = pv2[k]; /* swapped roles */
    }
}

static void poly_to_tpv(const poly3 *f1, const poly3 *f2, double pv1[11], double pv2[11])
{
    for (int k = 0; k < 11; k++) {
        if (k == 3) {
            pv1[k] = pv2[k] = 0.0;
            continue;
        }
        pv1[k] = f1->c[g_tpv_i[k]][g_tpv_j[k]];
        pv2[k] = f2->c[g_tpv_j[k]][g_tpv_i[k]];
    }
}

/* ---- small dense least squares (normal equations, Gaussian elimination with pivoting) -------- */

#define FP_NFIT 15 /* monomials of total degree <= 4 */

static int solve_dense(int n, double *a /* n x n, destroyed */, double *b /* n, -> x */)
{
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[piv * n + c]))
                piv = r;
        if (a[piv * n + c] == 0.0)
            return -1;
        if (piv != c) {
            for (int k = 0; k < n; k++) {
                double t = a[c * n + k];
                a[c * n + k] = a[piv * n + k];
                a[piv * n + k] = t;
            }
            double t = b[c];
            b[c] = b[piv];
            b[piv] = t;
        }
        for (int r = c + 1; r < n; r++) {
            double f = a[r * n + c] / a[c * n + c];
            if (f == 0.0)
                continue;
            for (int k = c; k < n; k++)
                a[r * n + k] -= f * a[c * n + k];
            b[r] -= f * b[c];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        double s = b[r];
        for (int k = r + 1; k < n; k++)
            s -= a[r * n + k] * b[k];
        b[r] = s / a[r * n + r];
    }
    return 0;
}

/* Fits AP, BP (order 4) to the inverse of q -> q + (A(q), B(q)) over |q| within the half sizes. */
static int fit_sip_inverse(sso_fp_wcs *w, double half_w, double half_h)
{
    poly3 A, B;
    memcpy(A.c, w->a, sizeof A.c);
    memcpy(B.c, w->b, sizeof B.c);
    int ei[FP_NFIT], ej[FP_NFIT], n = 0;
    for (int d = 0; d <= 4; d++)
        for (int i = d; i >= 0; i--) {
            ei[n] = i;
            ej[n] = d - i;
            n++;
        }
    /* Scaled coordinates (s = 1000 px) keep the normal equations well conditioned. */
    const double s = 1000.0;
    double ata[FP_NFIT * FP_NFIT], atbu[FP_NFIT], atbv[FP_NFIT], ata2[FP_NFIT * FP_NFIT];
    memset(ata, 0, sizeof ata);
    memset(atbu, 0, sizeof atbu);
    memset(atbv, 0, sizeof atbv);
    const int ng = 41;
    double mx = 1.05 * half_w, my = 1.05 * half_h;
    for (int gy = 0; gy < ng; gy++)
        for (int gx = 0; gx < ng; gx++) {
            double u = -mx + 2.0 * mx * gx / (ng - 1), v = -my + 2.0 * my * gy / (ng - 1);
            double U = u + poly3_eval(&A, u, v), V = v + poly3_eval(&B, u, v);
            double m[FP_NFIT];
            for (int k = 0; k < n; k++)
                m[k] = pow(U / s, ei[k]) * pow(V / s, ej[k]);
            for (int k = 0; k < n; k++) {
                for (int l = 0; l < n; l++)
                    ata[k * n + l] += m[k] * m[l];
                atbu[k] += m[k] * (u - U);
                atbv[k] += m[k] * (v - V);
            }
        }
    memcpy(ata2, ata, sizeof ata);
    if (solve_dense(n, ata, atbu) || solve_dense(n, ata2, atbv))
        return -1;
    memset(w->ap, 0, sizeof w->ap);
    memset(w->bp, 0, sizeof w->bp);
    for (int k = 0; k < n; k++) {
        double sc = pow(s, ei[k] + ej[k]);
        w->ap[ei[k]][ej[k]] = atbu[k] / sc;
        w->bp[ei[k]][ej[k]] = atbv[k] / sc;
    }
    /* Largest error over a finer grid. */
    double maxerr = 0.0;
    const int nc = 57;
    for (int gy = 0; gy < nc; gy++)
        for (int gx = 0; gx < nc; gx++) {
            double u = -half_w + 2.0 * half_w * gx / (nc - 1);
            double v = -half_h + 2.0 * half_h * gy / (nc - 1);
            double U = u + poly3_eval(&A, u, v), V = v + poly3_eval(&B, u, v);
            double du = U, dv = V;
            for (int k = 0; k < n; k++) {
                double mon = pow(U, ei[k]) * pow(V, ej[k]);
                du += w->ap[ei[k]][ej[k]] * mon;
                dv += w->bp[ei[k]][ej[k]] * mon;
            }
            double e = hypot(du - u, dv - v);
            if (e > maxerr)
                maxerr = e;
        }
    w->ap_max_err_px = maxerr;
    return 0;
}

/* ---- the per-detector WCS -------------------------------------------------------------------- */

sso_status sso_fp_ccd_wcs(const sso_fp_ccd *ccd, double ra0_deg, double dec0_deg, double pa_deg,
                          sso_sim_distortion type, int w, int h, sso_fp_wcs *out)
{
    if (!ccd || !out || w <= 0 || h <= 0)
        return sso_fail(SSO_ERR_ARG, "focal plane: invalid detector WCS request");
    if (type != SSO_SIM_TPV && type != SSO_SIM_SIP && type != SSO_SIM_TAN)
        return sso_fail(SSO_ERR_ARG, "focal plane: unknown distortion type %d", (int)type);
    if (!(fabs(dec0_deg) < 89.0))
        return sso_fail(SSO_ERR_ARG, "focal plane: pointing Dec %.3f is too close to a pole",
                        dec0_deg);
    memset(out, 0, sizeof *out);
    out->type = type;

    /* CCD centre in the pointing's tangent plane (GalSim's rotation of (u, v) by PA; +u West). */
    double pa = pa_deg * SSO_DEG2RAD, c = cos(pa), s = sin(pa);
    double u = ccd->uc_deg * c - ccd->vc_deg * s;
    double v = ccd->uc_deg * s + ccd->vc_deg * c;
    double xi = -u, eta = v;
    sso_sky_deproject(ra0_deg, dec0_deg, xi, eta, &out->crval_deg[0], &out->crval_deg[1]);

    /* Local position angle of +v at CRVAL: bearing towards a point further along +v. */
    const double step = 0.01; /* deg; the result does not depend on it (straight line -> great circle) */
    double ra_p, dec_p;
    sso_sky_deproject(ra0_deg, dec0_deg, xi + step * s, eta + step * c, &ra_p, &dec_p);
    double theta = sso_sky_bearing(out->crval_deg[0], out->crval_deg[1], ra_p, dec_p) * SSO_DEG2RAD;
    double ct = cos(theta), st = sin(theta);
    /* M = R(theta) = [[ct, st], [-st, ct]]. */
    double m00 = ct, m01 = st, m10 = -st, m11 = ct;
    double det_m = m00 * m11 - m01 * m10; /* = 1 */
    double i00 = m11 / det_m, i01 = -m01 / det_m, i10 = -m10 / det_m, i11 = m00 / det_m;

    /* B = CD_table P: this project's pixel axes. */
    const double *t = ccd->cd;
    double b00 = -t[1], b01 = t[0], b10 = -t[3], b11 = t[2];
    out->cd[0][0] = m00 * b00 + m01 * b10;
    out->cd[0][1] = m00 * b01 + m01 * b11;
    out->cd[1][0] = m10 * b00 + m11 * b10;
    out->cd[1][1] = m10 * b01 + m11 * b11;
    out->crpix[0] = 0.5 * (w + 1);
    out->crpix[1] = 0.5 * (h + 1);
    if (type == SSO_SIM_TAN)
        return SSO_OK;

    /* f'(w) = M f(M^-1 w). */
    if (ccd->pv1[3] != 0.0 || ccd->pv2[3] != 0.0)
        return sso_fail(SSO_ERR_INTERNAL, "focal plane: TPV r terms are not supported");
    poly3 f1, f2;
    tpv_to_poly(ccd->pv1, ccd->pv2, &f1, &f2);
    poly3 g1 = poly3_compose_linear(&f1, i00, i01, i10, i11);
    poly3 g2 = poly3_compose_linear(&f2, i00, i01, i10, i11);
    poly3 r1 = poly3_lincomb(m00, &g1, m01, &g2);
    poly3 r2 = poly3_lincomb(m10, &g1, m11, &g2);
    if (type == SSO_SIM_TPV) {
        poly_to_tpv(&r1, &r2, out->pv[0], out->pv[1]);
        /* The linear part is the identity up to rounding: write it exactly. */
        out->pv[0][0] = out->pv[1][0] = 0.0;
        out->pv[0][1] = out->pv[1][1] = 1.0;
        out->pv[0][2] = out->pv[1][2] = 0.0;
        return SSO_OK;
    }

    /* SIP: (A, B) = CD^-1 f'(CD q) - q. */
    double (*cd)[2] = out->cd;
    double dcd = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0];
    double c00 = cd[1][1] / dcd, c01 = -cd[0][1] / dcd, c10 = -cd[1][0] / dcd, c11 = cd[0][0] / dcd;
    poly3 h1 = poly3_compose_linear(&r1, cd[0][0], cd[0][1], cd[1][0], cd[1][1]);
    poly3 h2 = poly3_compose_linear(&r2, cd[0][0], cd[0][1], cd[1][0], cd[1][1]);
    poly3 A = poly3_lincomb(c00, &h1, c01, &h2);
    poly3 B = poly3_lincomb(c10, &h1, c11, &h2);
    if (fabs(A.c[1][0] - 1.0) > 1e-9 || fabs(B.c[0][1] - 1.0) > 1e-9 || fabs(A.c[0][1]) > 1e-9 ||
        fabs(B.c[1][0]) > 1e-9)
        return sso_fail(SSO_ERR_INTERNAL, "focal plane: TPV of CCD %s has a non-identity linear part",
                        ccd->id);
    for (int i = 0; i <= 3; i++)
        for (int j = 0; j <= 3; j++) {
            int d = i + j;
            out->a[i][j] = (d >= 2 && d <= 3) ? A.c[i][j] : 0.0;
            out->b[i][j] = (d >= 2 && d <= 3) ? B.c[i][j] : 0.0;
        }
    if (fit_sip_inverse(out, 0.5 * w, 0.5 * h))
        return sso_fail(SSO_ERR_INTERNAL, "focal plane: SIP inverse fit failed for CCD %s", ccd->id);
    return SSO_OK;
}

void sso_fp_wcs_shift(sso_fp_wcs *w, double dx_px, double dy_px)
{
    w->crpix[0] -= dx_px;
    w->crpix[1] -= dy_px;
}

/* ---- header keywords ------------------------------------------------------------------------- */

int sso_fp_wcs_write_keys(fitsfile *f, const sso_fp_wcs *w, int *status)
{
    const int dg = -17; /* %.17G: doubles round-trip exactly */
    int two = 2;
    const char *ct1 = "RA---TAN", *ct2 = "DEC--TAN";
    if (w->type == SSO_SIM_TPV) {
        ct1 = "RA---TPV";
        ct2 = "DEC--TPV";
    } else if (w->type == SSO_SIM_SIP) {
        ct1 = "RA---TAN-SIP";
        ct2 = "DEC--TAN-SIP";
    }
    fits_update_key(f, TINT, "WCSAXES", &two, "number of WCS axes", status);
    fits_update_key(f, TSTRING, "CTYPE1", (void *)ct1, "RA, gnomonic projection", status);
    fits_update_key(f, TSTRING, "CTYPE2", (void *)ct2, "Dec, gnomonic projection", status);
    fits_update_key(f, TSTRING, "CUNIT1", "deg", NULL, status);
    fits_update_key(f, TSTRING, "CUNIT2", "deg", NULL, status);
    fits_update_key(f, TSTRING, "RADESYS", "ICRS", "celestial reference frame", status);
    fits_update_key_dbl(f, "CRPIX1", w->crpix[0], dg, "reference pixel (detector centre)", status);
    fits_update_key_dbl(f, "CRPIX2", w->crpix[1], dg, "reference pixel (detector centre)", status);
    fits_update_key_dbl(f, "CRVAL1", w->crval_deg[0], dg, "[deg] RA of the reference pixel", status);
    fits_update_key_dbl(f, "CRVAL2", w->crval_deg[1], dg, "[deg] Dec of the reference pixel", status);
    fits_update_key_dbl(f, "CD1_1", w->cd[0][0], dg, "[deg/px]", status);
    fits_update_key_dbl(f, "CD1_2", w->cd[0][1], dg, "[deg/px]", status);
    fits_update_key_dbl(f, "CD2_1", w->cd[1][0], dg, "[deg/px]", status);
    fits_update_key_dbl(f, "CD2_2", w->cd[1][1], dg, "[deg/px]", status);
    char key[16];
    if (w->type == SSO_SIM_TPV) {
        for (int ax = 0; ax < 2; ax++)
            for (int k = 0; k < 11; k++) {
                if (k == 3)
                    continue;
                snprintf(key, sizeof key, "PV%d_%d", ax + 1, k);
                fits_update_key_dbl(f, key, w->pv[ax][k], dg, NULL, status);
            }
    } else if (w->type == SSO_SIM_SIP) {
        int three = 3, four = 4;
        fits_update_key(f, TINT, "A_ORDER", &three, "SIP forward polynomial order", status);
        for (int i = 0; i <= 3; i++)
            for (int j = 0; i + j <= 3; j++)
                if (i + j >= 2) {
                    snprintf(key, sizeof key, "A_%d_%d", i, j);
                    fits_update_key_dbl(f, key, w->a[i][j], dg, NULL, status);
                }
        fits_update_key(f, TINT, "B_ORDER", &three, "SIP forward polynomial order", status);
        for (int i = 0; i <= 3; i++)
            for (int j = 0; i + j <= 3; j++)
                if (i + j >= 2) {
                    snprintf(key, sizeof key, "B_%d_%d", i, j);
                    fits_update_key_dbl(f, key, w->b[i][j], dg, NULL, status);
                }
        fits_update_key(f, TINT, "AP_ORDER", &four, "SIP inverse (least-squares fit)", status);
        for (int i = 0; i <= 4; i++)
            for (int j = 0; i + j <= 4; j++) {
                snprintf(key, sizeof key, "AP_%d_%d", i, j);
                fits_update_key_dbl(f, key, w->ap[i][j], dg, NULL, status);
            }
        fits_update_key(f, TINT, "BP_ORDER", &four, "SIP inverse (least-squares fit)", status);
        for (int i = 0; i <= 4; i++)
            for (int j = 0; i + j <= 4; j++) {
                snprintf(key, sizeof key, "BP_%d_%d", i, j);
                fits_update_key_dbl(f, key, w->bp[i][j], dg, NULL, status);
            }
    }
    return *status;
}

sso_status sso_fp_wcs_header(const sso_fp_wcs *w, int width, int height, char **hdr, int *nkeys)
{
    fitsfile *f = NULL;
    int st = 0;
    char *h = NULL;
    sso_status rc = SSO_OK;
    long naxes[2] = {width, height};
    *hdr = NULL;
    *nkeys = 0;
    fits_create_file(&f, "mem://", &st);
    fits_create_img(f, FLOAT_IMG, 2, naxes, &st);
    sso_fp_wcs_write_keys(f, w, &st);
    fits_hdr2str(f, 0, NULL, 0, &h, nkeys, &st);
    if (st) {
        char msg[FLEN_STATUS];
        fits_get_errstatus(st, msg);
        rc = sso_fail(SSO_ERR_INTERNAL, "focal plane: building a WCS header failed: %s", msg);
        goto exit;
    }
    size_t n = strlen(h) + 1;
    *hdr = malloc(n);
    if (!*hdr) {
        rc = sso_fail(SSO_ERR_NOMEM, "focal plane: header of %zu bytes", n);
        goto exit;
    }
    memcpy(*hdr, h, n);
exit:
    if (h) {
        int st2 = 0;
        fits_free_memory(h, &st2);
    }
    if (f) {
        int st2 = 0;
        fits_close_file(f, &st2);
    }
    return rc;
}
